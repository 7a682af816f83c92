// Every background task cdrex runs, by name (the `task` column of jobs).
import { callbackTask } from '../callbacks/callback-task.js';
import { exportTask } from '../export/export-task.js';
import { retentionTask } from '../export/retention.js';
import { cdrRetentionTask } from '../lifecycle/retention-task.js';
import type pg from 'pg';
import { enqueueJob } from '../store/queries/jobs.js';
import type { Task } from './task.js';

export const TASKS: Record<string, Task> = {
  export: exportTask,
  callback: callbackTask,
  retention: retentionTask,
  'cdr-retention': cdrRetentionTask,
};

/** The retention sweeps (export files, CDRs) are standing jobs: one row each that reschedules
 * itself forever. */
export async function ensureScheduledJobs(pool: pg.Pool): Promise<void> {
  await enqueueJob(pool, 'retention', {}, { singleton: 'retention', maxAttempts: 2_000_000_000 });
  await enqueueJob(pool, 'cdr-retention', {}, { singleton: 'cdr-retention', maxAttempts: 2_000_000_000 });
}
