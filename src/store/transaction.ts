// The one way cdrex runs a transaction. A throw always rolls back, and the rollback's own failure
// is caught: a connection that could not roll back is in an unknown state (still inside the
// transaction, or gone), so it is released broken (`release(err)`), which makes the pool destroy
// it instead of handing it, mid-transaction, to the next caller.
import type pg from 'pg';

/** Clients whose rollback failed, with the rollback's error, until they are released. */
const broken = new WeakMap<pg.ClientBase, Error>();

/**
 * Runs fn on a client the caller holds, between `begin` (any BEGIN statement, possibly with
 * settings after it) and COMMIT; on a throw rolls back and rethrows fn's error. A failed
 * rollback is remembered for `releaseClient`, never thrown over the error that caused it.
 */
export async function inTransaction<C extends pg.ClientBase, T>(
  client: C,
  fn: (client: C) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    try {
      await client.query('rollback');
    } catch (rollbackErr) {
      broken.set(client, rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr)));
    }
    throw err;
  }
}

/** The error a client's failed rollback left, if any: what `release(err)` should be given. */
export function rollbackFailure(client: pg.ClientBase): Error | undefined {
  return broken.get(client);
}

/** Returns a pool client, destroying it when a rollback on it failed. */
export function releaseClient(client: pg.PoolClient, err?: Error): void {
  const failure = err ?? broken.get(client);
  broken.delete(client);
  client.release(failure);
}

/** Runs fn in one transaction on a client of `pool`; commits, or rolls back on a throw. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  const client = await pool.connect();
  try {
    return await inTransaction(client, fn, begin);
  } finally {
    releaseClient(client);
  }
}
