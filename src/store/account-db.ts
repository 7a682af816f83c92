// Every read or write on behalf of an account runs as cdrex_app inside a transaction that first
// sets `cdrex.account`; the tables' forced row-level security then shows that account's rows and
// no other, whatever the SQL after it says (docs/security.md). This module is the one place that
// sets it.
import type pg from 'pg';
import { ReadInOneTrip } from './read-in-one-trip.js';
import { withTransaction } from './transaction.js';

const ACCOUNT_ID = /^[0-9a-f]{32}$/;
/** What pg_export_snapshot() returns (PostgreSQL 13 and later): hex, hex, a counter. */
const SNAPSHOT_ID = /^[0-9A-F]{8}-[0-9A-F]{8}-[0-9]{1,10}$/;

export class AccountIdError extends Error {}

/**
 * The statement that opens the transaction and sets the account in one round trip. The id is
 * checked against the account-id pattern first, so the literal below can only ever be 32 hex
 * digits: the one value the SQL-text lint (test/security/sql-text-lint.test.ts) lets into SQL text.
 *
 * On Citus the policies are evaluated on the worker nodes, which see a setting only when it is a
 * SET LOCAL made while citus.propagate_set_commands is 'local' (a plain SET, or set_config(),
 * stays on the coordinator and the workers' policies then return nothing). Elsewhere that
 * setting is an unknown custom one, which PostgreSQL accepts and ignores.
 */
function beginAs(accountId: string, mode: 'write' | 'read' = 'write'): string {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  switch (mode) {
    case 'read':
      return `begin read only; set local citus.propagate_set_commands = 'local'; set local cdrex.account = '${accountId}'`;
    default:
      return `begin; set local citus.propagate_set_commands = 'local'; set local cdrex.account = '${accountId}'`;
  }
}

/** Opens the transaction on `client` with the account set. */
export async function setAccount(client: pg.ClientBase, accountId: string): Promise<void> {
  await client.query(beginAs(accountId));
}

/**
 * Opens a REPEATABLE READ transaction with the account set, in the snapshot `snapshot` when given
 * (one exported by pg_export_snapshot() on another connection). The id is checked against the
 * snapshot-id pattern first: it comes from the server, and only hex digits and dashes reach the
 * SQL text (SET TRANSACTION SNAPSHOT takes no bind parameter).
 */
async function setAccountInSnapshot(
  client: pg.ClientBase,
  accountId: string,
  snapshot?: string,
): Promise<void> {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  if (snapshot !== undefined && !SNAPSHOT_ID.test(snapshot)) throw new Error('not a snapshot id');
  const importing = snapshot === undefined ? '' : ` set transaction snapshot '${snapshot}';`;
  await client.query(
    `begin isolation level repeatable read;${importing} set local citus.propagate_set_commands = 'local'; set local cdrex.account = '${accountId}'`,
  );
}

/** A client inside an open transaction of an account; see AccountDb.stream(). */
export interface StreamClient {
  client: pg.PoolClient;
  done(err?: Error): void;
}

/** What callers of an account's data use: pg.Pool's query(), one transaction per call. */
export interface Queryable {
  query: pg.Pool['query'];
}

export interface AccountDb extends Queryable {
  readonly accountId: string;
  /**
   * One statement in a READ ONLY transaction, BEGIN to COMMIT in one round trip to the database
   * (read-in-one-trip.ts; on Citus, the BEGIN and the statement, with the COMMIT off the caller's
   * path). A named statement runs on its generic plan from its first run. On an error the
   * connection is destroyed, never handed on in an unknown state.
   */
  read<R extends pg.QueryResultRow>(query: pg.QueryConfig): Promise<pg.QueryResult<R>>;
  /** Runs fn in one transaction with the account set; commits, or rolls back on a throw. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /**
   * A client inside an open transaction with the account set, for cursors and COPY streams.
   * `done()` commits and returns it to the pool; `done(err)` discards it (a stream cut short
   * leaves the connection in an unknown state).
   */
  stream(): Promise<StreamClient>;
  /**
   * Up to `count` such clients whose transactions share one snapshot, for reading one consistent
   * view on several connections at once (an export's time slices). The first is waited for; the
   * others are taken only while the pool has room for them at once, so exports that hold one
   * connection can never wait on each other for more: with no room, fewer come back. Extra ones
   * are taken only while `keepFree` connections stay free besides them: the first connections
   * of the caller's other job slots, which would otherwise wait behind these slices.
   */
  streams(count: number, keepFree?: number): Promise<StreamClient[]>;
}

/** Takes a client from the pool and opens its transaction with `open`. */
async function openStream(
  pool: pg.Pool,
  open: (client: pg.PoolClient) => Promise<void>,
): Promise<StreamClient> {
  const client = await pool.connect();
  try {
    await open(client);
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
}

/**
 * Whether the store is a Citus cluster, asked once per pool. There an export takes one slice: a
 * snapshot exported on the coordinator is unknown to the worker nodes, where the slices' COPYs
 * run ("invalid snapshot identifier"), and each account's rows sit on one shard anyway; and a
 * named statement keeps PostgreSQL's own plan choice (see read()).
 */
const citusPools = new WeakMap<pg.Pool, Promise<boolean>>();
function onCitus(pool: pg.Pool, client: pg.PoolClient): Promise<boolean> {
  let known = citusPools.get(pool);
  if (!known) {
    known = client
      .query("select exists (select 1 from pg_extension where extname = 'citus') as citus")
      .then((r) => Boolean(r.rows[0].citus))
      .catch((err: unknown) => {
        citusPools.delete(pool); // ask again next time; this export fails with the error
        throw err;
      });
    citusPools.set(pool, known);
  }
  return known;
}

/** The account's view of the store through `pool` (a cdrex_app pool). */
export function accountDb(pool: pg.Pool, accountId: string): AccountDb {
  if (!ACCOUNT_ID.test(accountId)) throw new AccountIdError('not an account id');
  const transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) =>
    withTransaction(pool, fn, beginAs(accountId));
  const query = ((config: unknown, values?: unknown) =>
    transaction((client) => client.query(config as string, values as unknown[]))) as pg.Pool['query'];
  return {
    accountId,
    query,
    transaction,
    async read<R extends pg.QueryResultRow>(config: pg.QueryConfig) {
      const client = await pool.connect();
      let result: pg.QueryResult<R>;
      try {
        if (!(await onCitus(pool, client))) {
          // BEGIN, the account, the statement and COMMIT in one round trip (read-in-one-trip.ts).
          const read = new ReadInOneTrip<R>(accountId, config);
          client.query(read as unknown as pg.Submittable);
          result = await read.done;
          // After its COMMIT the connection is idle; any other state is not handed to anyone.
          const status = client.getTransactionStatus();
          client.release(
            status === 'I' ? undefined : new Error(`a read ended in transaction state ${status}`),
          );
          return result;
        }
        // On Citus the account must be a SET LOCAL (see beginAs), and a named statement keeps
        // PostgreSQL's own plan choice: its router planner needs the account id's value to pick
        // the shard, and a generic plan leaves it a parameter ("could not create distributed plan").
        await client.query(beginAs(accountId, 'read'));
        result = await client.query<R>(config);
      } catch (err) {
        // Whatever state the failure left the connection in, it is not handed to anyone else.
        client.release(err as Error);
        throw err;
      }
      client.query('commit').then(
        () => client.release(),
        (commitErr: Error) => client.release(commitErr),
      );
      return result;
    },
    stream: () => openStream(pool, (client) => setAccount(client, accountId)),
    async streams(count, keepFree = 0) {
      const first = await openStream(pool, (client) => setAccountInSnapshot(client, accountId));
      if (count <= 1 || (await onCitus(pool, first.client))) return [first];
      let snapshot: string;
      try {
        snapshot = String((await first.client.query('select pg_export_snapshot() as id')).rows[0].id);
      } catch (err) {
        first.done(err as Error);
        throw err;
      }
      // pg-pool's own counters; connect() claims an idle client or a new slot synchronously,
      // so the room seen here is the room the calls below get.
      const room = (pool.options.max ?? 10) - pool.totalCount + pool.idleCount - pool.waitingCount - keepFree;
      const wanted = Math.max(0, Math.min(count - 1, room));
      const others = await Promise.allSettled(
        Array.from({ length: wanted }, () =>
          openStream(pool, (client) => setAccountInSnapshot(client, accountId, snapshot)),
        ),
      );
      // One that failed to connect leaves the export with fewer slices, not failed.
      return [first, ...others.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))];
    },
  };
}
