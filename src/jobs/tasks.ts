// Every background task cdrex runs, by name (the `task` column of jobs).
import { callbackTask } from '../callbacks/callback-task.js';
import { exportTask } from '../export/export-task.js';
import { retentionTask } from '../export/retention.js';
import { cdrRetentionTask } from '../lifecycle/retention-task.js';
import type pg from 'pg';
import { TASK, type TaskName } from '../store/names.js';
import { enqueueJob } from '../store/queries/jobs.js';
import type { Task } from './task.js';

export const TASKS: Record<TaskName, Task> = {
  [TASK.export]: exportTask,
  [TASK.callback]: callbackTask,
  [TASK.retention]: retentionTask,
  [TASK.cdrRetention]: cdrRetentionTask,
};

/** The retention sweeps (export files, CDRs) are standing jobs: one row each that reschedules
 * itself forever. */
export async function ensureScheduledJobs(pool: pg.Pool): Promise<void> {
  for (const task of [TASK.retention, TASK.cdrRetention])
    await enqueueJob(pool, task, {}, { singleton: task, maxAttempts: 2_000_000_000 });
}
