// The jobs table: enqueue, claim with FOR UPDATE SKIP LOCKED, renew, complete, fail, release.
// Every write by a job's holder is fenced on its lease token, so a worker whose lease expired
// (and whose job another worker took over) can change nothing.
import type pg from 'pg';

export interface Job {
  id: string;
  task: string;
  account_id: string | null;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  lease_token: string;
}

type Queryable = pg.Pool | pg.PoolClient;

export const JOBS_CHANNEL = 'cdrex_jobs';

export interface EnqueueOptions {
  accountId?: string;
  runAt?: Date;
  maxAttempts?: number;
  /** At most one pending job with this key exists (e.g. the retention sweep). */
  singleton?: string;
}

export async function enqueueJob(
  db: Queryable,
  task: string,
  payload: Record<string, unknown>,
  options: EnqueueOptions = {},
): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `insert into jobs (task, account_id, payload, run_at, max_attempts, singleton)
     values ($1::text, $2::text, $3::jsonb, coalesce($4::timestamptz, now()), $5::int, $6::text)
     on conflict (singleton) do nothing
     returning id`,
    [
      task,
      options.accountId ?? null,
      payload,
      options.runAt ?? null,
      options.maxAttempts ?? 5,
      options.singleton ?? null,
    ],
  );
  await db.query('select pg_notify($1::text, $2::text)', [JOBS_CHANNEL, task]);
  return rows[0]?.id;
}

// Due jobs, and jobs whose lease expired (their worker died), oldest first. Exports of an account
// that already runs its quota of exports wait, so one customer cannot take every worker.
const CLAIM_SQL = `
with candidates as (
  select j.id from jobs j
   where j.task = any($1::text[])
     and j.dead_at is null
     and j.run_at <= now()
     and (j.locked_until is null or j.locked_until < now())
     and (j.task <> 'export' or j.account_id is null or (
       select count(*) from jobs r
        where r.task = 'export' and r.account_id = j.account_id and r.locked_until >= now()) < $4::int)
   order by j.run_at, j.id
   limit $2::int
   for update skip locked
)
update jobs j
   set attempts = j.attempts + 1,
       locked_by = $3::text,
       locked_until = now() + make_interval(secs => $5::float8 / 1000),
       lease_token = gen_random_uuid()
  from candidates c
 where j.id = c.id
returning j.id, j.task, j.account_id, j.payload, j.attempts, j.max_attempts, j.lease_token`;

export async function claimJobs(
  db: Queryable,
  options: { tasks: string[]; limit: number; workerId: string; leaseMs: number; exportsPerAccount: number },
): Promise<Job[]> {
  const { rows } = await db.query<Job>({
    name: 'claim_jobs',
    text: CLAIM_SQL,
    values: [options.tasks, options.limit, options.workerId, options.exportsPerAccount, options.leaseMs],
  });
  return rows;
}

/** Extends the lease; false when it was lost (expired and taken over, or the job is gone). */
export async function renewLease(db: Queryable, job: Job, leaseMs: number): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'renew_lease',
    text: `update jobs set locked_until = now() + make_interval(secs => $3::float8 / 1000)
            where id = $1::bigint and lease_token = $2::uuid`,
    values: [job.id, job.lease_token, leaseMs],
  });
  return rowCount === 1;
}

/** Removes a finished job; false when the lease was lost. */
export async function completeJob(db: Queryable, job: Job): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'complete_job',
    text: 'delete from jobs where id = $1::bigint and lease_token = $2::uuid',
    values: [job.id, job.lease_token],
  });
  return rowCount === 1;
}

/** Records a failure and schedules the next attempt, or marks the job dead after the last one. */
export async function failJob(
  db: Queryable,
  job: Job,
  error: string,
  retryInMs: number | null,
): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'fail_job',
    text: `update jobs
              set last_error = $3::text, locked_by = null, locked_until = null, lease_token = null,
                  run_at = now() + make_interval(secs => coalesce($4::float8, 0) / 1000),
                  dead_at = case when $4::float8 is null then now() end
            where id = $1::bigint and lease_token = $2::uuid`,
    values: [job.id, job.lease_token, error.slice(0, 2000), retryInMs],
  });
  return rowCount === 1;
}

/** Gives a job back without counting the attempt (graceful shutdown). */
export async function releaseJob(db: Queryable, job: Job): Promise<void> {
  await db.query(
    `update jobs set attempts = greatest(attempts - 1, 0), locked_by = null, locked_until = null, lease_token = null
      where id = $1::bigint and lease_token = $2::uuid`,
    [job.id, job.lease_token],
  );
}

/** Moves a job's next run (a scheduled job rescheduling itself), fenced like any write. */
export async function rescheduleJob(db: Queryable, job: Job, runAt: Date): Promise<boolean> {
  const { rowCount } = await db.query(
    `update jobs set run_at = $3::timestamptz, attempts = 0, locked_by = null, locked_until = null,
            lease_token = null, last_error = null
      where id = $1::bigint and lease_token = $2::uuid`,
    [job.id, job.lease_token, runAt],
  );
  return rowCount === 1;
}
