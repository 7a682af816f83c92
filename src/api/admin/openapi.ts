// OpenAPI documents generated from the route schemas (@fastify/swagger collects every route as it
// is registered): one per API, so an integrator generates a client for the dialect it speaks.
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';

interface Api {
  /** Where the document is served; the routes under `prefixes` are the ones it describes. */
  url: string;
  prefixes: string[];
  title: string;
  description: string;
}

export const OPENAPI_DOCUMENTS: Api[] = [
  {
    url: '/admin/v1/openapi.json',
    prefixes: ['/admin/v1/'],
    title: 'cdrex operators’ API',
    description:
      'Accounts, API keys, callback secrets, retention and the audit log. Authorization: Bearer <operator token>.',
  },
  {
    url: '/v3/openapi.json',
    prefixes: ['/v3/'],
    title: 'cdrex DIDWW API v3 exports',
    description: 'DIDWW v3 exports and CDR exports (JSON:API). Api-Key header; X-DIDWW-API-Version.',
  },
  {
    url: '/v2/openapi.json',
    prefixes: ['/v2/'],
    title: 'cdrex Kazoo CDR API (v2)',
    description: 'Kazoo crossbar CDR routes. X-Auth-Token from PUT /v2/api_auth, or the API key.',
  },
  {
    url: '/v1/openapi.json',
    prefixes: ['/v1/'],
    title: 'cdrex Kazoo CDR API (v1)',
    description: 'Kazoo crossbar CDR routes. X-Auth-Token from PUT /v1/api_auth, or the API key.',
  },
];

interface Document {
  info: Record<string, unknown>;
  paths?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Registers the collector; call it before any route is added. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'cdrex', version: '1.0.0' },
      components: {
        securitySchemes: {
          operatorToken: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'Api-Key' },
          authToken: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
        },
      },
    },
  });
}

const SECURITY: Record<string, Record<string, string[]>[]> = {
  '/admin/v1/openapi.json': [{ operatorToken: [] }],
  '/v3/openapi.json': [{ apiKey: [] }],
  '/v2/openapi.json': [{ authToken: [] }],
  '/v1/openapi.json': [{ authToken: [] }],
};

/** Serves each API's document: the collected one cut down to that API's paths. Public: it says
 * what the routes accept, nothing about any account. */
export function serveOpenApi(app: FastifyInstance): void {
  for (const api of OPENAPI_DOCUMENTS) {
    let cached: Document | undefined;
    app.get(api.url, { schema: { hide: true }, config: { public: true, rateLimit: false } }, async () => {
      if (cached) return cached;
      const all = app.swagger() as unknown as Document;
      const paths = Object.fromEntries(
        Object.entries(all.paths ?? {}).filter(([p]) => api.prefixes.some((prefix) => p.startsWith(prefix))),
      );
      cached = {
        ...all,
        info: { ...all.info, title: api.title, description: api.description },
        security: SECURITY[api.url],
        paths,
      };
      return cached;
    });
  }
}
