// How a job ends well: its row deleted (or, for a standing job, its next run moved), always fenced
// on the lease. One call does both the fenced write and the bookkeeping, so a task cannot publish
// its result and forget to complete the job, or complete it without the fence.
import type pg from 'pg';
import { LeaseLostError } from '../errors.js';
import { completeJob, rescheduleJob, type Job } from '../store/queries/jobs.js';

type Db = pg.Pool | pg.PoolClient;

export interface JobCompletion {
  /** Deletes the job row if this lease still holds it; else throws LeaseLostError. */
  complete(db: Db): Promise<void>;
  /** Moves the job's next run if this lease still holds it; else throws LeaseLostError. */
  reschedule(db: Db, runAt: Date): Promise<void>;
  /** Whether the task ended the job itself (the worker completes it otherwise). */
  readonly done: boolean;
}

export function jobCompletion(job: Job): JobCompletion {
  let done = false;
  const fenced = async (held: Promise<boolean>) => {
    if (!(await held)) throw new LeaseLostError(job.id);
    done = true;
  };
  return {
    complete: (db) => fenced(completeJob(db, job)),
    reschedule: (db, runAt) => fenced(rescheduleJob(db, job, runAt)),
    get done() {
      return done;
    },
  };
}
