// The operators' API (`/admin/v1`): authenticated by an operator token (`cdrex admin token
// create`) in `Authorization: Bearer`, never by an account's key or token. Errors are
// `{"error": "…"}`. The routes translate; src/store/queries/admin.ts does the work.
import type { FastifyError, FastifyInstance } from 'fastify';
import { CdrexError } from '../../errors.js';
import { storeFailure } from '../../store/errors.js';
import { findOperator } from '../../store/queries/admin.js';
import { adminRoutes } from './routes.js';

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

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) return reply.code(400).send({ error: err.message });
    const failure = storeFailure(err);
    if (failure === 'bad_input')
      return reply.code(400).send({ error: 'A value in the request is not valid.' });
    if (failure) {
      req.log.warn({ err }, 'store unavailable');
      return reply
        .code(503)
        .header('Retry-After', '5')
        .send({ error: 'The store is not reachable; retry shortly.' });
    }
    const status = err instanceof CdrexError ? err.statusCode : (err.statusCode ?? 500);
    if (status >= 400 && status < 500) return reply.code(status).send({ error: err.message });
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'Something went wrong on our side.' });
  });

  await app.register(adminRoutes);
}
