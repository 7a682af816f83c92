// Month partitions of `cdrs`, created before any load that needs them.
//
// `CREATE TABLE … PARTITION OF` takes an ACCESS EXCLUSIVE lock on the parent and so waits behind
// (and then blocks) every running export. The partition function (migration 3) creates a plain
// table and ATTACHes it, which only needs SHARE UPDATE EXCLUSIVE on the parent; a short
// lock_timeout with retries here keeps a load from queueing behind a long reader.
import type pg from 'pg';
import { retrying } from './retry.js';
import { withTransaction } from './transaction.js';

const LOCK_NOT_AVAILABLE = '55P03';

export function monthStart(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function addMonths(date: Date, months: number): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1));
}

/** The partition of the month that holds `date` (any moment in it). */
export function partitionName(date: Date): string {
  return `cdrs_${date.getUTCFullYear()}_${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

const PARTITIONS_SQL = `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
  where i.inhparent = 'cdrs'::regclass`;

async function partitionExists(client: pg.Pool | pg.PoolClient, name: string): Promise<boolean> {
  const { rows } = await client.query(`${PARTITIONS_SQL} and c.relname = $1::text`, [name]);
  return rows.length > 0;
}

/** The names of the partitions `cdrs` has now (compare with partitionName). */
export async function partitionNames(db: pg.Pool | pg.PoolClient): Promise<Set<string>> {
  const { rows } = await db.query<{ name: string }>(PARTITIONS_SQL);
  return new Set(rows.map((r) => r.name));
}

/**
 * Creates one month's partition through cdrex_create_month_partition (migration 3), which runs as
 * the owner and refuses months outside the stored range; callers need only EXECUTE on it.
 */
async function createPartition(pool: pg.Pool, month: Date): Promise<void> {
  const name = partitionName(month);
  if (await partitionExists(pool, name)) return;
  const day = month.toISOString().slice(0, 10);
  await retrying(
    async () => {
      try {
        await pool.query('select cdrex_create_month_partition($1::date)', [day]);
      } catch (err) {
        // Another process may have created the same month at the same moment.
        if (!(await partitionExists(pool, name))) throw err;
      }
    },
    (err) => (err as { code?: string }).code === LOCK_NOT_AVAILABLE,
    { attempts: 30, pauseMs: (attempt) => 100 * attempt },
  );
}

/** Creates (if missing) the partition of every month in the list, given as any date inside it. */
export async function ensureMonthPartitions(pool: pg.Pool, dates: Iterable<Date>): Promise<void> {
  const months = new Map<number, Date>();
  for (const d of dates) {
    const m = monthStart(d);
    months.set(m.getTime(), m);
  }
  for (const month of [...months.values()].sort((a, b) => a.getTime() - b.getTime())) {
    await createPartition(pool, month);
  }
}

/** At startup: the previous three months to two months ahead. */
export async function ensureDefaultPartitions(pool: pg.Pool, now = new Date()): Promise<void> {
  const months = [];
  for (let i = -3; i <= 2; i++) months.push(addMonths(monthStart(now), i));
  await ensureMonthPartitions(pool, months);
}

/** Rows that fell into the DEFAULT partition (should be none); reported by /healthz. */
export async function countDefaultPartitionRows(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('select cdrex_default_partition_rows() as n');
  return Number(rows[0].n);
}

/** The month a partition stands for (`cdrs_YYYY_MM`), or undefined (the DEFAULT partition). */
export function partitionMonth(name: string): Date | undefined {
  const m = /^cdrs_(\d{4})_(\d{2})$/.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) : undefined;
}

/** The months that have a partition and start before `before`, oldest first (never DEFAULT). */
export async function monthsBefore(db: pg.Pool | pg.PoolClient, before: Date): Promise<Date[]> {
  return [...(await partitionNames(db))]
    .map(partitionMonth)
    .filter((m): m is Date => m !== undefined && m < before)
    .sort((a, b) => a.getTime() - b.getTime());
}

/** A month's partition could not be detached: every try timed out waiting for its lock. */
export class PartitionLockError extends Error {
  constructor(
    readonly partition: string,
    readonly attempts: number,
    lockTimeoutMs: number,
  ) {
    super(
      `Dropping ${partition}: its lock was not granted in ${attempts} tries of ${lockTimeoutMs} ms ` +
        '(a long query or transaction holds cdrs); nothing was dropped, retry later.',
    );
  }
}

/**
 * Detaches and drops one month's partition through cdrex_drop_month_partition (migration 16, as
 * the owner; it refuses the last three months). The DETACH takes ACCESS EXCLUSIVE on `cdrs`, so
 * each try waits at most `lockTimeoutMs` (SET LOCAL): ingestion is blocked no longer than that,
 * and a try that times out is retried after a pause (`onLockTimeout` hears of each); after
 * `attempts` tries it gives up with a PartitionLockError, nothing changed. False when the month
 * had no partition.
 */
export async function dropMonthPartition(
  pool: pg.Pool,
  month: Date,
  options: { lockTimeoutMs?: number; attempts?: number; onLockTimeout?: (attempt: number) => void } = {},
): Promise<boolean> {
  const day = monthStart(month).toISOString().slice(0, 10);
  const attempts = options.attempts ?? 30;
  const lockTimeoutMs = options.lockTimeoutMs ?? 2000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, async (client) => {
        await client.query("select set_config('lock_timeout', $1::text, true)", [`${lockTimeoutMs}ms`]);
        const { rows } = await client.query<{ dropped: boolean }>(
          'select cdrex_drop_month_partition($1::date) as dropped',
          [day],
        );
        return rows[0].dropped;
      });
    } catch (err) {
      if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
      options.onLockTimeout?.(attempt);
      if (attempt >= attempts) throw new PartitionLockError(partitionName(month), attempts, lockTimeoutMs);
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
