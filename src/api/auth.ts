// What every dialect's auth hook does once it knows the account: the request gets that account's
// view of the store, and nothing else. Every query a handler runs goes through `req.db` or
// `req.streamDb`, each transaction of which sets the account for row-level security.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TooManyRequestsError } from '../errors.js';
import { accountDb, type AccountDb } from '../store/account-db.js';
import { accountLimits, SLOT_RETRY_AFTER_S } from './long-streams.js';

declare module 'fastify' {
  interface FastifyRequest {
    accountId?: string;
    /** The authenticated account's view of the store (row-level security), with a statement timeout. */
    db?: AccountDb;
    /** The same, on the pool without a statement timeout, for long streams. */
    streamDb?: AccountDb;
  }
}

/**
 * Given the reply (the DIDWW and Kazoo hooks; FreeSWITCH posts have limits of their own), the
 * request also holds one of the account's CDREX_REQUESTS_PER_ACCOUNT slots until its response
 * closes; beyond them this throws a 429 with Retry-After, which each dialect answers in its format.
 */
export function authenticate(req: FastifyRequest, accountId: string, reply?: FastifyReply): void {
  if (reply) {
    const { requests } = accountLimits(req.server.store, req.server.store.config);
    if (!requests.take(reply.raw, accountId)) {
      reply.header('Retry-After', String(SLOT_RETRY_AFTER_S));
      const message = `at most ${requests.perAccount} requests per account at once; retry when one ends`;
      throw new TooManyRequestsError(message);
    }
  }
  req.accountId = accountId;
  req.db = accountDb(req.server.store.pool, accountId);
  req.streamDb = accountDb(req.server.store.streamPool, accountId);
}

/** Kazoo's credential: X-Auth-Token, then ?auth_token (seed 003's curl), then Authorization: Bearer. */
export function presentedToken(req: FastifyRequest): string | undefined {
  const header = req.headers['x-auth-token'];
  if (typeof header === 'string' && header) return header;
  const query = (req.query as Record<string, unknown> | undefined)?.auth_token;
  if (typeof query === 'string' && query) return query;
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return bearer?.[1];
}

/** DIDWW's credential: the Api-Key header. */
export function presentedApiKey(req: FastifyRequest): string | undefined {
  const key = req.headers['api-key'];
  return typeof key === 'string' && key ? key : undefined;
}
