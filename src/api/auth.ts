// What every dialect's auth hook does once it knows the account: the request gets that account's
// view of the store, and nothing else. Every query a handler runs goes through `req.db` or
// `req.streamDb`, each transaction of which sets the account for row-level security.
import type { FastifyRequest } from 'fastify';
import { accountDb, type AccountDb } from '../store/account-db.js';

declare module 'fastify' {
  interface FastifyRequest {
    accountId?: string;
    /** The authenticated account's view of the store (row-level security), with a statement timeout. */
    db?: AccountDb;
    /** The same, on the pool without a statement timeout, for long streams. */
    streamDb?: AccountDb;
  }
}

export function authenticate(req: FastifyRequest, accountId: string): void {
  req.accountId = accountId;
  req.db = accountDb(req.server.store.pool, accountId);
  req.streamDb = accountDb(req.server.store.streamPool, accountId);
}
