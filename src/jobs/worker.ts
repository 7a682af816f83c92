// The worker: claims jobs (FOR UPDATE SKIP LOCKED), runs them with a lease renewed every third of
// its length, and gives them back on shutdown. Any number of workers, in any number of processes
// on any number of machines, share one database; a killed worker's jobs are taken over when their
// lease expires. LISTEN/NOTIFY wakes idle workers; polling is the fallback.
// A worker has two kinds of slots, each claimed for separately: `jobs` (exports and maintenance,
// CDREX_WORKER_CONCURRENCY) and `callbacks` (CDREX_CALLBACK_CONCURRENCY), so a slow callback
// receiver never holds an export's slot and a long export never delays a callback.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { Config } from '../config.js';
import { coerceError, ConnectionLostError, LeaseLostError } from '../errors.js';
import type { Logger } from '../log.js';
import { storeFailure } from '../store/errors.js';
import {
  claimJobs,
  failJob,
  listenForJobs,
  releaseJob,
  releaseLostJob,
  renewLease,
  retryJobLater,
  type Job,
} from '../store/queries/jobs.js';
import type { JobContext, SlotKind, Task } from './task.js';
import { jobCompletion } from './completion.js';

export interface WorkerOptions {
  /** cdrex_worker: claims, leases, bookkeeping (BYPASSRLS). */
  pool: pg.Pool;
  /** cdrex_app: what a job reads on behalf of its account (row-level security). */
  appPool: pg.Pool;
  /** The worker role's URL, for the LISTEN connection. */
  url: string;
  config: Config;
  log: Logger;
  masterKey: Buffer;
  tasks: Record<string, Task>;
}

class ShutdownError extends Error {}

function defaultRetryDelay(attempt: number): number {
  return Math.min(300_000, 1000 * 2 ** attempt);
}

/** Lost database connections in a row that give a job back without counting an attempt. */
export const MAX_RELEASES_IN_A_ROW = 20;
/** The first wait after a transient failure; it doubles from there (see retryJobLater). */
const TRANSIENT_MIN_DELAY_MS = 2000;

/** errno codes of a disk or file share that may recover by itself. */
const TRANSIENT_ERRNO = [
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ESTALE',
  'ETIMEDOUT',
];

/**
 * `lost`: the job's database connection went away (terminated, reset, cut by a watchdog);
 * `transient`: a condition that may pass by itself (a full disk, an I/O error, a store that is
 * unavailable or too slow); `other`: anything else, counted as an attempt.
 */
export function failureKind(err: unknown): 'lost' | 'transient' | 'other' {
  if (err instanceof ConnectionLostError) return 'lost';
  const failure = storeFailure(err);
  if (failure === 'unavailable') return 'lost';
  if (failure === 'timeout') return 'transient';
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code && TRANSIENT_ERRNO.includes(code) ? 'transient' : 'other';
}

/** A bookkeeping query that may not answer (a silent partition) is given up after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectionLostError(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Renews the lease on a client of its own, destroyed when the server does not answer in time. */
async function renewWithin(pool: pg.Pool, job: Job, leaseMs: number, ms: number): Promise<boolean> {
  const connecting = pool.connect();
  let client: pg.PoolClient;
  try {
    client = await within(connecting, ms, 'lease renewal');
  } catch (err) {
    // A connection that arrives after the deadline goes back, discarded, rather than leak.
    connecting.then(
      (late) => late.release(new Error('lease renewal gave up')),
      () => {},
    );
    throw err;
  }
  try {
    const held = await within(renewLease(client, job, leaseMs), ms, 'lease renewal');
    client.release();
    return held;
  } catch (err) {
    client.release(err as Error); // destroys it, with the query in flight
    throw err;
  }
}

export class Worker {
  readonly id = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly running = new Map<
    string,
    { job: Job; slots: SlotKind; abort: AbortController; done: Promise<void> }
  >();
  private stopping = false;
  private wake: (() => void) | undefined;
  private listener: pg.Client | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: WorkerOptions) {}

  start(): void {
    void this.listen();
    this.loop = this.run(false);
  }

  /** Runs every due job, then returns (`cdrex worker --once`). */
  async runOnce(): Promise<void> {
    await this.run(true);
  }

  /** The task names each kind of slot runs, and how many slots of each kind there are. */
  private slotKinds(): { kind: SlotKind; tasks: string[]; size: number }[] {
    const { config, tasks } = this.opts;
    const of = (kind: SlotKind) => Object.keys(tasks).filter((t) => (tasks[t].slots ?? 'jobs') === kind);
    return [
      { kind: 'jobs' as const, tasks: of('jobs'), size: config.workerConcurrency },
      { kind: 'callbacks' as const, tasks: of('callbacks'), size: config.callbackConcurrency },
    ].filter((k) => k.tasks.length > 0);
  }

  private async run(once: boolean): Promise<void> {
    const { config, log } = this.opts;
    const kinds = this.slotKinds();
    while (!this.stopping) {
      let claimedAny = false;
      let more = false;
      for (const { kind, tasks, size } of kinds) {
        const free = size - [...this.running.values()].filter((r) => r.slots === kind).length;
        if (free <= 0 || this.stopping) continue;
        let claimed: Job[] = [];
        try {
          claimed = await claimJobs(this.opts.pool, {
            tasks,
            limit: free,
            workerId: this.id,
            leaseMs: config.leaseMs,
            exportsPerAccount: config.exportsPerAccount,
          });
        } catch (err) {
          log.warn({ err, slots: kind }, 'claiming jobs failed; retrying');
        }
        for (const job of claimed) this.startJob(job, kind);
        if (claimed.length > 0) claimedAny = true;
        // Every free slot taken: there may be more work waiting for the next free one.
        if (claimed.length > 0 && claimed.length === free) more = true;
      }
      if (once && !claimedAny) {
        if (this.running.size === 0) return;
        await Promise.race([...this.running.values()].map((r) => r.done));
        continue;
      }
      if (more) continue;
      await this.idle(once ? 50 : config.pollMs);
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const finished = [...this.running.values()].map((r) => r.done);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
      // A finished job frees a slot: look for more work at once.
      if (finished.length > 0) void Promise.race(finished).then(done);
    });
  }

  private startJob(job: Job, slots: SlotKind): void {
    const abort = new AbortController();
    const done = this.execute(job, abort).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { job, slots, abort, done });
  }

  // Kept whole on purpose: the lease renewal, the task and its release share one job's lifetime
  // (one try/finally); split, the timer's stop would sit apart from its start.
  private async execute(job: Job, abort: AbortController): Promise<void> {
    const { pool, appPool, config, log: baseLog, masterKey } = this.opts;
    const task = this.opts.tasks[job.task];
    const log = baseLog.child({
      job: job.id,
      task: job.task,
      attempt: job.attempts,
      // The id of the request that created the job (an export's, carried on to its callback), under
      // the name serve's request lines use: one grep follows an export from request to callback.
      ...(typeof job.payload.request_id === 'string' ? { reqId: job.payload.request_id } : {}),
      ...task.logFields?.(job, config),
    });
    const completion = jobCompletion(job);
    // The lease is renewed every third of its length. A renewal that fails or does not answer
    // in time destroys its client; once the lease would expire before the next renewal, the job
    // is aborted (its clients destroyed with it) and goes back to the queue: a silent partition
    // is noticed within two thirds of the lease.
    const every = Math.max(100, Math.floor(config.leaseMs / 3));
    let renewedAt = Date.now();
    let renewing = false;
    const renew = setInterval(() => {
      if (renewing) return;
      renewing = true;
      const started = Date.now();
      renewWithin(pool, job, config.leaseMs, every)
        .then((held) => {
          if (!held) abort.abort(new LeaseLostError(job.id));
          else renewedAt = started;
        })
        .catch((err) => {
          const left = renewedAt + config.leaseMs - Date.now();
          if (left > every) {
            log.warn({ err, leaseLeftMs: left }, 'lease renewal failed; trying again');
            return;
          }
          log.warn({ err }, 'lease renewal failed; giving the job up');
          abort.abort(new ConnectionLostError('the lease could not be renewed', { cause: err }));
        })
        .finally(() => (renewing = false));
    }, every);
    const ctx: JobContext = {
      pool,
      appPool,
      config,
      log,
      masterKey,
      signal: abort.signal,
      complete: (db) => completion.complete(db),
      reschedule: (db, runAt) => completion.reschedule(db, runAt),
    };
    try {
      if (job.attempts > job.max_attempts) throw new Error(`gave up after ${job.max_attempts} attempts`);
      await task.run(job, ctx);
      if (!completion.done) await completion.complete(pool);
      log.debug('job done');
    } catch (raw) {
      const err = coerceError(abort.signal.aborted ? (abort.signal.reason ?? raw) : raw);
      if (err instanceof LeaseLostError) {
        log.warn('lease lost; another worker has the job');
      } else if (err instanceof ShutdownError) {
        await releaseJob(pool, job).catch((e) => log.warn({ err: e }, 'releasing job failed'));
        log.info('job released for another worker');
      } else {
        await this.failed(job, task, err, log);
      }
    } finally {
      clearInterval(renew);
    }
  }

  /**
   * After a failure: a lost connection gives the job back at once without counting the attempt
   * (at most MAX_RELEASES_IN_A_ROW times in a row); a transient failure of a task with a retry
   * period is retried with back-off until the period ends; anything else counts as an attempt.
   */
  private async failed(job: Job, task: Task, err: Error, log: Logger): Promise<void> {
    const { pool, config } = this.opts;
    // The bookkeeping's own connection may be the one gone silent: bounded by the lease.
    const bounded = <T>(p: Promise<T>) => within(p, config.leaseMs, 'job bookkeeping');
    const again = () =>
      task.onRetry
        ? bounded(task.onRetry(job, { pool, log })).catch((e) => log.warn({ err: e }, 'onRetry failed'))
        : undefined;
    const dead = () => task.onDead?.(job, { pool, log });
    // onRetry runs while the job is still held, so that no other worker has taken it up yet.
    let kind = failureKind(err);
    if (kind === 'lost' && job.released < MAX_RELEASES_IN_A_ROW) {
      log.warn({ err, releasedInARow: job.released + 1 }, 'database connection lost; job given back');
      await again();
      await bounded(releaseLostJob(pool, job, err.message)).catch((e) =>
        log.warn({ err: e }, 'releasing job failed; its lease will expire'),
      );
      return;
    }
    if (kind === 'lost') kind = 'transient';
    const periodS = task.retryPeriodS?.(config);
    if (kind === 'transient' && periodS !== undefined) {
      const maxMs = config.exportBackoffMaxS * 1000;
      await again();
      const result = await bounded(
        retryJobLater(pool, job, err.message, {
          periodS,
          minMs: Math.min(TRANSIENT_MIN_DELAY_MS, maxMs),
          maxMs,
        }),
      ).catch((e) => {
        log.warn({ err: e }, 'recording the failure failed; its lease will expire');
        return { outcome: 'lost' as const, retryInMs: undefined };
      });
      if (result.outcome === 'retry') {
        log.warn({ err, retryInMs: result.retryInMs, retryPeriodS: periodS }, 'job failed; will retry');
      } else if (result.outcome === 'dead') {
        log.error({ err, retryPeriodS: periodS }, 'job failed; its retry period is over');
        await dead();
      }
      return;
    }
    const attemptsLeft = job.attempts < job.max_attempts;
    const delay = attemptsLeft
      ? task.retryDelayMs
        ? task.retryDelayMs(job.attempts, { config })
        : defaultRetryDelay(job.attempts)
      : null;
    log.warn({ err, retryInMs: delay }, delay === null ? 'job failed for good' : 'job failed');
    if (delay !== null) await again();
    const held = await bounded(failJob(pool, job, err.message, delay)).catch(() => false);
    if (held && delay === null) await dead();
  }

  private async listen(): Promise<void> {
    const { url, log, config } = this.opts;
    while (!this.stopping) {
      const client = new pg.Client({ connectionString: url, keepAlive: true });
      // Listening from the start: an error before the wait below must not go unhandled.
      const lost = new Promise<void>((resolve) => {
        client.on('error', () => resolve());
        client.on('end', () => resolve());
      });
      try {
        await client.connect();
        this.listener = client;
        client.on('notification', () => this.wake?.());
        await listenForJobs(client);
        await lost;
      } catch (err) {
        if (!this.stopping) log.debug({ err }, 'job notifications unavailable; polling');
      } finally {
        this.listener = undefined;
        await client.end().catch(() => {});
      }
      if (!this.stopping) await new Promise((r) => setTimeout(r, config.pollMs * 5));
    }
  }

  /**
   * Stops claiming, lets running jobs finish until the deadline, then gives the rest back
   * without counting the attempt so that another worker resumes them.
   */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const timedOut = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), deadlineMs).unref()),
    ]);
    if (timedOut) {
      for (const r of this.running.values()) r.abort.abort(new ShutdownError('worker shutting down'));
      await all();
    }
    await this.loop?.catch(() => {});
    await this.listener?.end().catch(() => {});
  }

  get activeJobs(): number {
    return this.running.size;
  }
}
