// The cdrex HTTP application: a Fastify instance with the store decorated on it, the rate limit,
// /healthz, and one encapsulated plugin per API dialect. It never listens (see server.ts), so
// tests can drive it with inject() as well as over a socket.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type pg from 'pg';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { didwwApi } from './api/didww/index.js';
import { freeswitchIngest } from './api/freeswitch.js';
import { kazooApi } from './api/kazoo/index.js';
import { sendKazooError } from './api/kazoo/envelope.js';
import { errorDocument, sendError } from './api/didww/json-api.js';
import { portal } from './api/portal.js';
import { countDefaultPartitionRows } from './store/partitions.js';

export interface AppStore {
  /** Requests' queries: with a statement timeout (see server.ts). */
  pool: pg.Pool;
  /** Long streams a client asked for (uploads, CSV and unpaginated lists): without one, since
   * their length is the client's data, not a stuck query. */
  streamPool: pg.Pool;
  config: Config;
  masterKey: Buffer;
  /** The clock; injectable so tests near a month boundary cannot flake. */
  now: () => Date;
}

declare module 'fastify' {
  interface FastifyInstance {
    store: AppStore;
  }
}

const API_PATH = /^\/(v1|v2|v3|ingest)\//;

/** Strips credentials from logged URLs (`?auth_token=` appears in Kazoo curl examples). */
function redactUrl(url: string): string {
  return url.replace(/([?&](?:auth_token|api_key)=)[^&]*/gi, '$1[redacted]');
}

export async function buildApp(store: AppStore, log: Logger): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: log.child(
      {},
      {
        serializers: {
          req: (req: { method: string; url: string; ip?: string }) => ({
            method: req.method,
            url: redactUrl(req.url),
            ip: req.ip,
          }),
        },
      },
    ) as unknown as FastifyBaseLogger,
    bodyLimit: store.config.uploadLimitMb * 1024 * 1024,
    requestTimeout: 120_000,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    ajv: { customOptions: { coerceTypes: true, allErrors: false } },
    // Ids are at most 300 characters (schemas say so); longer URL parts are refused before routing.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    // A URL the router cannot take (too long, malformed escapes) still answers in its dialect.
    frameworkErrors: (err, req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 400;
      const message = status === 414 ? 'A part of the URL is too long.' : 'The URL is not valid.';
      if (/^\/v3\//.test(req.url))
        return sendError(reply, status, errorDocument(status, 'Bad Request', message));
      if (/^\/v[12]\//.test(req.url))
        return sendKazooError(req, reply, status, 'invalid request', { message });
      return (reply as FastifyReply).code(status).send({ error: message });
    },
  });
  app.decorate('store', store);

  // Per account (the credential's account, set by each dialect's auth hook), else per address.
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: store.config.rateLimit,
    timeWindow: 1000,
    keyGenerator: (req) => req.accountId ?? req.ip,
    // The portal's static files are public and cached; only the APIs are metered.
    allowList: (req) => (req.method === 'GET' || req.method === 'HEAD') && !API_PATH.test(req.url),
    errorResponseBuilder: (_req, ctx) => {
      const err = new Error(`Rate limit of ${ctx.max} requests per second exceeded; retry in ${ctx.after}.`);
      return Object.assign(err, { statusCode: 429 });
    },
  });

  app.get('/healthz', { config: { rateLimit: false } }, async (_req, reply) => {
    try {
      const defaultRows = await countDefaultPartitionRows(store.pool);
      return { status: 'ok', store: 'up', default_partition_rows: defaultRows };
    } catch {
      return reply.code(503).send({ status: 'unavailable', store: 'down' });
    }
  });

  await app.register(didwwApi, { prefix: '/v3' });
  await app.register(kazooApi, { prefix: '/v1' });
  await app.register(kazooApi, { prefix: '/v2' });
  await app.register(freeswitchIngest);
  await app.register(portal, {});
  return app;
}
