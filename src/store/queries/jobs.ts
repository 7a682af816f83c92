// The jobs table: enqueue, claim with FOR UPDATE SKIP LOCKED, renew, complete, fail, release.
// Every write by a job's holder is fenced on its lease token, so a worker whose lease expired
// (and whose job another worker took over) can change nothing.
import type pg from 'pg';
import { LOCK, TASK, type TaskName } from '../names.js';
import { withTransaction } from '../transaction.js';

export interface Job {
  id: string;
  task: string;
  account_id: string | null;
  payload: Record<string, unknown>;
  attempts: number;
  max_attempts: number;
  lease_token: string;
  /** Lost database connections in a row that gave the job back without counting an attempt. */
  released: number;
}

type Queryable = pg.Pool | pg.PoolClient;

export const JOBS_CHANNEL = 'cdrex_jobs';

/** Subscribes `client` to the notification enqueueJob sends; it then emits 'notification'. */
export async function listenForJobs(client: pg.ClientBase): Promise<void> {
  await client.query(`listen ${JOBS_CHANNEL}`);
}

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

// Due jobs, and jobs whose lease expired (their worker died). Accounts take turns: an export's
// turn is the number of its account's exports that would be running once it is taken (those
// running anywhere in the cluster, plus its rank among the account's runnable ones), so the
// account with the fewest running goes first, then the oldest runnable export. Only as many are
// taken as the account's quota leaves room for, so one customer cannot take every worker, even
// within one claim. Other tasks (retention, callbacks) have turn 0: they are short and go first.
const CLAIM_SQL = `
with running as (
  select account_id, count(*) as n from jobs
   where task = $6::text and account_id is not null and locked_until >= now()
   group by account_id
), due as (
  select id, task, account_id, run_at,
         row_number() over (partition by task, account_id order by run_at, id) as nth
    from jobs
   where task = any($1::text[])
     and dead_at is null
     and run_at <= now()
     and (locked_until is null or locked_until < now())
), candidates as (
  select j.id from jobs j
    join due d on d.id = j.id
    left join running r on r.account_id = d.account_id and d.task = $6::text
   where d.task <> $6::text or d.account_id is null or coalesce(r.n, 0) + d.nth <= $4::int
   order by case when d.task = $6::text and d.account_id is not null then coalesce(r.n, 0) + d.nth else 0 end,
            d.run_at, d.id
   limit $2::int
   for update of j skip locked
)
update jobs j
   set attempts = j.attempts + 1,
       locked_by = $3::text,
       locked_until = now() + make_interval(secs => $5::float8 / 1000),
       lease_token = gen_random_uuid()
  from candidates c
 where j.id = c.id
returning j.id, j.task, j.account_id, j.payload, j.attempts, j.max_attempts, j.lease_token, j.released`;

export async function claimJobs(
  pool: pg.Pool,
  options: { tasks: string[]; limit: number; workerId: string; leaseMs: number; exportsPerAccount: number },
): Promise<Job[]> {
  return withTransaction(pool, async (client) => {
    // Claims are serialised (a transaction-scoped lock, held for milliseconds) so that two
    // workers claiming at the same moment cannot both see room in the same account's quota.
    await client.query('select pg_advisory_xact_lock($1::bigint)', [LOCK.claim]);
    const { rows } = await client.query<Job>({
      name: 'claim_jobs',
      text: CLAIM_SQL,
      values: [
        options.tasks,
        options.limit,
        options.workerId,
        options.exportsPerAccount,
        options.leaseMs,
        TASK.export, // the task the per-account quota counts
      ],
    });
    return rows;
  });
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
                  released = 0,
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

/** Gives a job back at once without counting the attempt, after its database connection was
 * lost; `released` counts these in a row. False when the lease was lost. */
export async function releaseLostJob(db: Queryable, job: Job, error: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update jobs set attempts = greatest(attempts - 1, 0), released = released + 1, last_error = $3::text,
            locked_by = null, locked_until = null, lease_token = null
      where id = $1::bigint and lease_token = $2::uuid`,
    [job.id, job.lease_token, error.slice(0, 2000)],
  );
  return rowCount === 1;
}

/**
 * A transient failure (full disk, I/O error, store unavailable): the attempt is not counted, and
 * the job runs again after a back-off that doubles with the time since its first transient
 * failure (at least `minMs`, at most `maxMs`), until `periodS` after that first failure, when
 * it is marked dead. Returns 'retry', 'dead', or 'lost' (the lease was lost).
 */
export async function retryJobLater(
  db: Queryable,
  job: Job,
  error: string,
  backoff: { periodS: number; minMs: number; maxMs: number },
): Promise<{ outcome: 'retry' | 'dead' | 'lost'; retryInMs?: number }> {
  const { rows } = await db.query<{ dead: boolean; retry_in_ms: number }>(
    `with j as (
       select id, coalesce(first_failed_at, now()) as since from jobs
        where id = $1::bigint and lease_token = $2::uuid
     ), next as (
       select id, since,
              now() - since >= make_interval(secs => $4::float8) as dead,
              least($6::float8, greatest($5::float8, extract(epoch from now() - since) * 1000)) as delay_ms
         from j
     )
     update jobs set attempts = greatest(attempts - 1, 0), released = 0, last_error = $3::text,
            first_failed_at = next.since,
            locked_by = null, locked_until = null, lease_token = null,
            run_at = now() + make_interval(secs => next.delay_ms / 1000),
            dead_at = case when next.dead then now() end
       from next
      where jobs.id = next.id
     returning next.dead as dead, next.delay_ms::float8 as retry_in_ms`,
    [job.id, job.lease_token, error.slice(0, 2000), backoff.periodS, backoff.minMs, backoff.maxMs],
  );
  if (rows.length === 0) return { outcome: 'lost' };
  return rows[0].dead
    ? { outcome: 'dead' }
    : { outcome: 'retry', retryInMs: Math.round(rows[0].retry_in_ms) };
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

/** The (job id, lease token) of every job of `task` a worker holds right now. */
export async function liveLeases(
  db: Queryable,
  task: TaskName,
): Promise<{ id: string; lease_token: string }[]> {
  const { rows } = await db.query<{ id: string; lease_token: string }>(
    'select id, lease_token from jobs where task = $1::text and lease_token is not null',
    [task],
  );
  return rows;
}
