// How a request becomes an account's: each dialect (DIDWW, Kazoo, FreeSWITCH ingestion) says how
// its credential names an account and how it refuses one; requireAccount() does the rest, the
// same way for all of them. The request then gets that account's view of the store and nothing
// else: every query a handler runs goes through `req.db` or `req.streamDb`, each transaction of
// which sets the account for row-level security.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TooManyRequestsError } from '../errors.js';
import { accountDb, type AccountDb } from '../store/account-db.js';
import { accountLimits, SLOT_RETRY_AFTER_S } from './long-streams.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The account the request's credential names, once requireAccount() accepted it. */
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
function authenticate(req: FastifyRequest, accountId: string, reply?: FastifyReply): void {
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

export interface AccountCredential {
  /**
   * The account the request's credential names, or undefined to refuse it. `after` runs once the
   * request is the account's (a Kazoo token echoed in answers, say).
   */
  identify(req: FastifyRequest): Promise<{ accountId: string; after?: () => void } | undefined>;
  /** The dialect's 401. */
  refuse(req: FastifyRequest, reply: FastifyReply): FastifyReply;
  /** Routes that need no credential (Kazoo's api_auth). */
  isPublic?(req: FastifyRequest): boolean;
  /** Whether the request takes one of the account's concurrent-request slots (authenticate()).
   * Default: yes. */
  holdsSlot?(req: FastifyRequest): boolean;
}

/**
 * Adds the onRequest hook that admits only requests whose credential names an account. Hooks run
 * in the order they are added: a dialect adds its own checks before this one (a NUL byte in the
 * URL) or after it (DIDWW's version and media types).
 */
export function requireAccount(app: FastifyInstance, credential: AccountCredential): void {
  app.addHook('onRequest', async (req, reply) => {
    if (credential.isPublic?.(req)) return;
    const found = await credential.identify(req);
    if (!found) return credential.refuse(req, reply);
    authenticate(req, found.accountId, credential.holdsSlot?.(req) === false ? undefined : reply);
    found.after?.();
  });
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
