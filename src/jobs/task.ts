// What a background task is: code that runs one claimed job.
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Job } from '../store/queries/jobs.js';

export interface JobContext {
  pool: pg.Pool;
  config: Config;
  log: Logger;
  masterKey: Buffer;
  /** Aborted when the lease is lost or the worker shuts down; stop and publish nothing. */
  signal: AbortSignal;
  /** Call inside the transaction that publishes the job's result, fenced on the lease. */
  markCompleted(): void;
}

export interface Task {
  run(job: Job, ctx: JobContext): Promise<void>;
  /** Delay before the next attempt after a failure, or null to give up. Default: exponential. */
  retryDelayMs?(attempt: number, ctx: { config: Config }): number | null;
  /** Called once when the job is given up for good. */
  onDead?(job: Job, ctx: { pool: pg.Pool; log: Logger }): Promise<void>;
}
