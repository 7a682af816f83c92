// The operators' API (`/admin/v1`): authenticated by an operator token (`cdrex admin token
// create`) in `Authorization: Bearer`, never by an account's key or token. Errors are
// `{"error": "…"}`. The routes translate; src/store/queries/admin.ts does the work.
import type { FastifyInstance } from 'fastify';
import { classify, logAndHint } from '../errors.js';
import { findOperator } from '../../store/queries/admin.js';
import { adminRoutes } from './routes.js';
import type { ApiDialect } from '../dialect.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator token that authenticated an /admin request. */
    operator?: { id: string; name: string };
  }
}

/** The operator token a request presents: `Authorization: Bearer <token>` only. */
export function presentedOperatorToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
}

export async function adminApi(app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.public) return;
    const token = presentedOperatorToken(req.headers.authorization);
    const operator = token ? await findOperator(app.store.pool, token) : undefined;
    if (!operator)
      return reply.code(401).send({ error: 'An operator token is required (Authorization: Bearer).' });
    req.operator = operator;
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `No route matches ${req.method} ${req.url.split('?')[0]}.` });
  });

  // `{"error": message}` with classify's status; a timeout reads as the store unreachable.
  app.setErrorHandler((err, req, reply) => {
    const c = classify(err);
    logAndHint(req, reply, c, err);
    const message = c.kind === 'timeout' ? 'The store is not reachable; retry shortly.' : c.message;
    return reply.code(c.status).send({ error: message });
  });

  await app.register(adminRoutes);
}

export const adminDialect: ApiDialect = {
  prefixes: ['/admin/v1'],
  plugin: adminApi,
  urlError: (_req, reply, status, message) => reply.code(status).send({ error: message }),
};
