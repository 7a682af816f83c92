// What a background task is: code that runs one claimed job.
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Job } from '../store/queries/jobs.js';

export interface JobContext {
  /** cdrex_worker: the job's bookkeeping (BYPASSRLS). */
  pool: pg.Pool;
  /** cdrex_app: reads on behalf of the job's account go through accountDb(appPool, …). */
  appPool: pg.Pool;
  config: Config;
  log: Logger;
  masterKey: Buffer;
  /** Aborted when the lease is lost or the worker shuts down; stop and publish nothing. */
  signal: AbortSignal;
  /**
   * Completes the job inside the transaction (`db`) that publishes its result: deletes the job
   * row, fenced on the lease, and throws LeaseLostError when another worker holds it now (the
   * transaction then rolls back: a stale lease publishes nothing). A task that does not call it
   * is completed by the worker after run() returns, fenced the same way.
   */
  complete(db: pg.PoolClient): Promise<void>;
  /** For a standing job: moves its next run to `runAt` instead of finishing, fenced the same way. */
  reschedule(db: pg.Pool | pg.PoolClient, runAt: Date): Promise<void>;
}

/** Which of a worker's slots run a task: `jobs` (CDREX_WORKER_CONCURRENCY, exports and
 * maintenance) or `callbacks` (CDREX_CALLBACK_CONCURRENCY), so neither can starve the other. */
export type SlotKind = 'jobs' | 'callbacks';

export interface Task {
  /** Default: `jobs`. */
  slots?: SlotKind;
  run(job: Job, ctx: JobContext): Promise<void>;
  /** Delay before the next attempt after a failure, or null to give up. Default: exponential. */
  retryDelayMs?(attempt: number, ctx: { config: Config }): number | null;
  /** Called once when the job is given up for good. */
  onDead?(job: Job, ctx: { pool: pg.Pool; log: Logger }): Promise<void>;
  /**
   * How long transient failures (full disk, I/O errors, the store unavailable) are retried,
   * in seconds from the first one, with back-off and without counting attempts. Without it, a
   * transient failure counts as an attempt like any other.
   */
  retryPeriodS?(config: Config): number;
  /** Called when the job goes back to the queue to run again (after any failure but the last). */
  onRetry?(job: Job, ctx: { pool: pg.Pool; log: Logger }): Promise<void>;
  /** Fields every log line of the job carries (e.g. the export id and its file). */
  logFields?(job: Job, config: Config): Record<string, unknown>;
}
