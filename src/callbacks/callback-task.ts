// The callback job: announces a completed export, retrying on the configured schedule. The
// schedule lives in the jobs table (run_at, attempts), so it survives restarts; the signing key
// (the enabled callback secret, else the API key) is read at each delivery, so a rotated key, a
// newly enabled secret or a deleted one applies to pending callbacks too.
import type { Task } from '../jobs/task.js';
import { readCallbackSigningKey } from '../store/queries/accounts.js';
import { loadExport } from '../store/queries/exports.js';
import { countCallback } from '../metrics/registry.js';
import { deliverCallback } from './deliver.js';

export const callbackTask: Task = {
  // A receiver may hold a delivery for the whole timeout (60 s): callbacks have slots of their
  // own, so slow receivers never hold the slots exports run on.
  slots: 'callbacks',
  async run(job, ctx) {
    const exportId = String(job.payload.export_id);
    const exp = await loadExport(ctx.pool, exportId);
    if (!exp || !exp.callback_url) return; // deleted since; nothing to announce
    const signing = await readCallbackSigningKey(ctx.pool, ctx.masterKey, exp.account_id);
    const outcome = await deliverCallback({
      url: exp.callback_url,
      method: exp.callback_method ?? 'POST',
      params: { id: exp.id, type: 'exports', status: 'completed' },
      signingKey: signing.key,
      timeoutMs: ctx.config.callbackTimeoutMs,
      allowHosts: ctx.config.callbackAllowHosts,
      signal: ctx.signal,
    });
    // Shutdown or a lost lease: the worker gives the job back (or another worker has it).
    ctx.signal.throwIfAborted();
    countCallback(outcome);
    if (!outcome.ok)
      throw new Error(`callback to ${new URL(exp.callback_url).host} failed: ${outcome.error}`);
    ctx.log.info({ export: exp.id, status: outcome.status, signed_with: signing.kind }, 'callback delivered');
  },
  // Attempt n failed: wait delays[n-1]; after the last delay there is no further attempt.
  retryDelayMs(attempt, { config }) {
    const delay = config.callbackDelaysS[attempt - 1];
    return delay === undefined ? null : delay * 1000;
  },
};
