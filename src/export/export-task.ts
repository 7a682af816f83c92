// The export job: writes the file, then publishes it in one transaction fenced on the job's lease
// (job row deleted, file row inserted, export completed, callback queued). A worker that lost its
// lease publishes nothing and deletes what it wrote.
import fs from 'node:fs';
import path from 'node:path';
import type { Task } from '../jobs/task.js';
import { enqueueJob } from '../store/queries/jobs.js';
import {
  loadExport,
  markExportFailed,
  markExportPending,
  markExportProcessing,
  publishExportFile,
} from '../store/queries/exports.js';
import { accountDb } from '../store/account-db.js';
import { withTransaction } from '../store/transaction.js';
import { countExportCompleted, countExportFailed } from '../metrics/registry.js';
import { tempFilePath, writeExportFile } from './export-file.js';

/** Temp files of this job's earlier attempts, left by a worker that was killed. */
async function removeEarlierAttempts(exportDir: string, jobId: string): Promise<void> {
  const prefix = `.tmp-${jobId}-`;
  const names = await fs.promises.readdir(exportDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith(prefix))
      .map((n) => fs.promises.rm(path.join(exportDir, n), { force: true })),
  );
}

export const exportTask: Task = {
  async run(job, ctx) {
    const started = performance.now();
    const exportId = String(job.payload.export_id);
    const exp = await loadExport(ctx.pool, exportId);
    if (!exp || exp.status === 'completed') return;
    await markExportProcessing(ctx.pool, exportId);
    const exportDir = ctx.config.exportDir;
    await removeEarlierAttempts(exportDir, job.id);
    // The rows are read as cdrex_app with the export's account set: row-level security holds
    // for exports too. Only the bookkeeping below runs as the worker.
    // Several connections in one snapshot: the export is copied as that many time slices at once.
    // Enough stay free for the first connection of every other job this worker may run at once
    // (without them, 8 exports at once on a pool of 10 waited for connections and timed out).
    const readers = await accountDb(ctx.appPool, exp.account_id).streams(
      ctx.config.exportSlices,
      ctx.config.workerConcurrency - 1,
    );
    let written;
    try {
      written = await writeExportFile(
        readers.map((r) => r.client),
        exp,
        exportDir,
        tempFilePath(exportDir, job.id, job.lease_token),
        ctx.signal,
        ctx.config.copyStallMs,
      );
      for (const reader of readers) reader.done();
    } catch (err) {
      // a COPY cut short leaves the connection unusable
      for (const reader of readers) reader.done(err as Error);
      throw err;
    }
    const finalPath = path.join(exportDir, written.fileName);
    try {
      await withTransaction(ctx.pool, async (client) => {
        await ctx.complete(client);
        await publishExportFile(client, exp, written);
        if (exp.callback_url) {
          await enqueueJob(
            client,
            'callback',
            // The request id goes on, so the callback's log lines carry it too.
            { export_id: exp.id, ...(job.payload.request_id ? { request_id: job.payload.request_id } : {}) },
            { accountId: exp.account_id, maxAttempts: ctx.config.callbackDelaysS.length + 1 },
          );
        }
      });
      countExportCompleted(performance.now() - started, written.rows, written.size);
      ctx.log.info({ file: finalPath, rows: written.rows, bytes: written.size }, 'export completed');
    } catch (err) {
      await fs.promises.rm(finalPath, { force: true });
      throw err;
    }
  },
  async onDead(job, { pool, log }) {
    await markExportFailed(pool, String(job.payload.export_id));
    countExportFailed();
    log.error('export failed; `cdrex exports retry` runs it again');
  },
  // Between tries the export shows `pending`; transient failures are retried for
  // CDREX_EXPORT_RETRY_S from the first one (docs/decisions.md, "Statuses").
  async onRetry(job, { pool }) {
    await markExportPending(pool, String(job.payload.export_id));
  },
  retryPeriodS: (config) => config.exportRetryS,
  logFields: (job, config) => ({
    export: String(job.payload.export_id),
    path: tempFilePath(config.exportDir, job.id, job.lease_token),
  }),
};
