// Every read or write on behalf of an account runs as cdrex_app inside a transaction that first
// sets `cdrex.account`; the tables' forced row-level security then shows that account's rows and
// no other, whatever the SQL after it says (docs/security.md). This module is the one place that
// sets it.
import type pg from 'pg';
import { withTransaction } from './transaction.js';

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

export class AccountIdError extends Error {}

/**
 * The statement that opens the transaction and sets the account in one round trip. The id is
 * checked against the account-id pattern first, so the literal below can only ever be 32 hex
 * digits: the one value the SQL-text lint (test/security/sql-text-lint.test.ts) lets into SQL text.
 */
function beginAs(accountId: string): string {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  return `begin; set local cdrex.account = '${accountId}'`;
}

/** Opens the transaction on `client` with the account set. */
export async function setAccount(client: pg.ClientBase, accountId: string): Promise<void> {
  await client.query(beginAs(accountId));
}

/** What callers of an account's data use: pg.Pool's query(), one transaction per call. */
export interface Queryable {
  query: pg.Pool['query'];
}

export interface AccountDb extends Queryable {
  readonly accountId: string;
  /** Runs fn in one transaction with the account set; commits, or rolls back on a throw. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /**
   * A client inside an open transaction with the account set, for cursors and COPY streams.
   * `done()` commits and returns it to the pool; `done(err)` discards it (a stream cut short
   * leaves the connection in an unknown state).
   */
  stream(): Promise<{ client: pg.PoolClient; done(err?: Error): void }>;
}

/** The account's view of the store through `pool` (a cdrex_app pool). */
export function accountDb(pool: pg.Pool, accountId: string): AccountDb {
  const begin = beginAs(accountId);
  const transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) => withTransaction(pool, fn, begin);
  const query = ((config: unknown, values?: unknown) =>
    transaction((client) => client.query(config as string, values as unknown[]))) as pg.Pool['query'];
  return {
    accountId,
    query,
    transaction,
    async stream() {
      const client = await pool.connect();
      try {
        await setAccount(client, accountId);
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
      let released = false;
      return {
        client,
        done(err?: Error) {
          if (released) return;
          released = true;
          if (err) {
            // A stream cut short (its client gone, a write-idle timeout) may leave its query
            // running on the server long after the socket closes: PostgreSQL notices a dead
            // client only when it next writes to it, and a selective scan may not write for
            // minutes. Cancel it first, then discard the connection.
            const pid = (client as unknown as { processID?: number }).processID;
            const cancel = pid ? pool.query('select pg_cancel_backend($1::int)', [pid]) : Promise.resolve();
            void cancel.catch(() => undefined).finally(() => client.release(err));
            return;
          }
          client.query('commit').then(
            () => client.release(),
            (commitErr: Error) => client.release(commitErr),
          );
        },
      };
    },
  };
}

// Kept for src/export/export-task.ts, which imports it from here (see src/store/transaction.ts).
export { withTransaction };
