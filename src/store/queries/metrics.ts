// What /metrics and /readyz read from the store. Each is one short statement over small sets:
// unfinished exports (a partial index), the jobs table (done jobs are deleted), the DEFAULT
// partition (kept empty) and the schema version. They run as cdrex_worker, which sees every
// account's rows; only totals leave this module, never an account.
import type pg from 'pg';

export interface JobQueue {
  task: string;
  /** Due and not held by a live lease. */
  runnable: number;
  /** Held by a worker whose lease has not expired. */
  running: number;
  /** Seconds since the oldest runnable job became due; 0 when none is. */
  oldest_runnable_s: number;
}

export interface StoreGauges {
  /** Unfinished exports by status (pending, processing). */
  exports: Record<string, number>;
  jobs: JobQueue[];
  defaultPartitionRows: number;
}

const GAUGES_SQL = `
select
  (select coalesce(json_object_agg(status, n), '{}'::json)
     from (select status, count(*)::int as n from exports
            where status in ('pending', 'processing') group by status) e) as exports,
  (select coalesce(json_agg(q), '[]'::json)
     from (select task,
                  count(*) filter (where run_at <= now() and (locked_until is null or locked_until < now()))::int
                    as runnable,
                  count(*) filter (where locked_until >= now())::int as running,
                  coalesce(extract(epoch from now() - min(run_at)
                    filter (where run_at <= now() and (locked_until is null or locked_until < now()))), 0)::float8
                    as oldest_runnable_s
             from jobs where dead_at is null group by task) q) as jobs,
  cdrex_default_partition_rows()::float8 as default_rows`;

export async function readStoreGauges(pool: pg.Pool): Promise<StoreGauges> {
  const { rows } = await pool.query<{
    exports: Record<string, number>;
    jobs: JobQueue[];
    default_rows: number;
  }>(GAUGES_SQL);
  return { exports: rows[0].exports, jobs: rows[0].jobs, defaultPartitionRows: rows[0].default_rows };
}

/** The newest migration applied to the store (see migration 13). */
export async function readSchemaVersion(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ v: number }>('select cdrex_schema_version() as v');
  return rows[0].v;
}
