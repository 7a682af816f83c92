// Every read or write on behalf of an account runs as cdrex_app inside a transaction that first
// sets `cdrex.account`; the tables' forced row-level security then shows that account's rows and
// no other, whatever the SQL after it says (docs/security.md). This module is the one place that
// sets it.
import type pg from 'pg';

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

export class AccountIdError extends Error {}

/**
 * Opens the transaction and sets the account in one round trip. The id is checked against the
 * account-id pattern first, so the literal below can only ever be 32 hex digits: the one value
 * the SQL-text lint (test/store/sql-text-lint.test.ts) lets into SQL text.
 *
 * On Citus the policies are evaluated on the worker nodes, which see a setting only when it is a
 * SET LOCAL made while citus.propagate_set_commands is 'local' (a plain SET, or set_config(),
 * stays on the coordinator and the workers' policies then return nothing). Elsewhere that
 * setting is an unknown custom one, which PostgreSQL accepts and ignores.
 */
export async function setAccount(client: pg.ClientBase, accountId: string): Promise<void> {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  await client.query(
    `begin; set local citus.propagate_set_commands = 'local'; set local cdrex.account = '${accountId}'`,
  );
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

/** A database connection that failed mid-transaction must not go back to the pool. */
async function finish(client: pg.PoolClient, err: unknown): Promise<void> {
  if (err === undefined) {
    client.release();
    return;
  }
  try {
    await client.query('rollback');
    client.release();
  } catch (rollbackErr) {
    client.release(rollbackErr as Error);
  }
}

/** Runs fn between `open` (which begins the transaction) and COMMIT; rolls back on a throw. */
async function inTransaction<T>(
  pool: pg.Pool,
  open: (client: pg.PoolClient) => Promise<unknown>,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    await open(client);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    failure = err ?? new Error('transaction failed');
    throw err;
  } finally {
    await finish(client, failure);
  }
}

/** The account's view of the store through `pool` (a cdrex_app pool). */
export function accountDb(pool: pg.Pool, accountId: string): AccountDb {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  const transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) =>
    inTransaction(pool, (client) => setAccount(client, accountId), fn);
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

/** A transaction on an unscoped pool (the worker's), released broken when it failed. */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, (client) => client.query('begin'), fn);
}
