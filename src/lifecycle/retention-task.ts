// The standing CDR retention job (task `cdr-retention`): one row that runs, then moves its own
// next run CDREX_CDR_RETENTION_INTERVAL_S ahead (daily by default). Nothing happens while neither
// CDREX_CDR_RETENTION_MONTHS nor any account's retention_months is set.
import type { Task } from '../jobs/task.js';
import { runRetention } from './retention.js';
import { lifecycleSettings } from './settings.js';

export const cdrRetentionTask: Task = {
  async run(_job, ctx) {
    const settings = lifecycleSettings(ctx.config);
    await runRetention(ctx.pool, settings.retentionMonths, {
      exportDir: ctx.config.exportDir,
      log: ctx.log,
      lockTimeoutMs: settings.lockTimeoutMs,
      lockAttempts: settings.lockAttempts,
      actor: 'job:cdr-retention',
    });
    await ctx.reschedule(ctx.pool, new Date(Date.now() + settings.intervalS * 1000));
  },
  retryDelayMs: () => 60_000,
};
