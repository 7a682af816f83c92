// Retention: a file is deleted one month (CDREX_RETENTION_DAYS) after its export completed; the
// export then shows `url: null` and its download answers 404. The same sweep removes what killed
// workers left behind: temp files of jobs no longer running, and files never published.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { Task } from '../jobs/task.js';
import { expiredFiles, markFileDeleted, referencedFileNames } from '../store/queries/exports.js';
import { liveLeases } from '../store/queries/jobs.js';
import { TASK } from '../store/names.js';

const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
/** Unreferenced files younger than this may be an export being published right now. */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

export interface SweepResult {
  expired: number;
  orphans: number;
}

async function liveLeaseTokens(pool: pg.Pool): Promise<Set<string>> {
  const leases = await liveLeases(pool, TASK.export);
  return new Set(leases.map((r) => `.tmp-${r.id}-${r.lease_token}`));
}

export async function sweepExportFiles(
  pool: pg.Pool,
  exportDir: string,
  retentionDays: number,
  log: Logger,
  now = new Date(),
): Promise<SweepResult> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  let expired = 0;
  for (const file of await expiredFiles(pool, cutoff)) {
    await fs.promises.rm(path.join(exportDir, file.file_name), { force: true });
    await markFileDeleted(pool, file.id);
    expired++;
  }
  let orphans = 0;
  const names = await fs.promises.readdir(exportDir).catch(() => [] as string[]);
  if (names.length > 0) {
    const referenced = await referencedFileNames(pool);
    const leased = await liveLeaseTokens(pool);
    for (const name of names) {
      const full = path.join(exportDir, name);
      const isTemp = name.startsWith('.tmp-');
      // A slice's side file belongs to the temp file it will be appended to.
      if (isTemp ? leased.has(name.replace(/\.slice-\d+$/, '')) : referenced.has(name)) continue;
      const stat = await fs.promises.stat(full).catch(() => undefined);
      if (!stat?.isFile() || (!isTemp && now.getTime() - stat.mtimeMs < ORPHAN_GRACE_MS)) continue;
      await fs.promises.rm(full, { force: true });
      orphans++;
    }
  }
  if (expired || orphans) log.info({ expired, orphans }, 'export files swept');
  return { expired, orphans };
}

export const retentionTask: Task = {
  async run(_job, ctx) {
    await sweepExportFiles(ctx.pool, ctx.config.exportDir, ctx.config.retentionDays, ctx.log);
    // A standing job: it moves its own next run instead of finishing.
    await ctx.reschedule(ctx.pool, new Date(Date.now() + SWEEP_INTERVAL_MS));
  },
  retryDelayMs: () => 60_000,
};
