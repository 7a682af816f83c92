// The process's event metrics (counters and histograms), incremented where things happen. They
// live in one registry per process, created at import, so every code path counts into the same
// series; gauges read at scrape time are in scrape.ts. Labels are bounded sets only (route
// templates, methods, statuses, sources, outcomes): never an account, a URL or an id, since each
// label value is a series Prometheus keeps.
import type { ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const httpDuration = new Histogram({
  name: 'cdrex_http_request_duration_seconds',
  help: 'HTTP requests by route template (unmatched for none), method and status, and how long they took.',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
  registers: [registry],
});

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** One answered request; `route` is the matched template (never the raw URL). */
export function observeHttp(route: string | undefined, method: string, status: number, ms: number): void {
  httpDuration.observe(
    { route: route ?? 'unmatched', method: METHODS.has(method) ? method : 'other', status: String(status) },
    ms / 1000,
  );
}

const ingested = new Counter({
  name: 'cdrex_cdrs_ingested_total',
  help: 'CDRs stored by source (freeswitch, upload, import, asterisk, generate).',
  labelNames: ['source'] as const,
  registers: [registry],
});
const duplicates = new Counter({
  name: 'cdrex_cdrs_duplicate_total',
  help: 'CDRs received again (same account, kind, start, call id and attempt) and not stored, by source.',
  labelNames: ['source'] as const,
  registers: [registry],
});
const rejected = new Counter({
  name: 'cdrex_cdrs_rejected_total',
  help: 'Records refused as invalid (unreadable, or a time outside the ingest window), by source.',
  labelNames: ['source'] as const,
  registers: [registry],
});

/** A load's stored and duplicate CDRs. */
export function countIngest(source: string, n: { inserted: number; duplicates: number }): void {
  if (n.inserted > 0) ingested.inc({ source }, n.inserted);
  if (n.duplicates > 0) duplicates.inc({ source }, n.duplicates);
}

/** Every record a load refused, not only those its answer lists. */
export function countRejected(source: string, records: number): void {
  if (records > 0) rejected.inc({ source }, records);
}

const exportsFinished = new Counter({
  name: 'cdrex_exports_finished_total',
  help: 'Exports finished by this process, by outcome: completed, or failed (given up for good).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
const exportDuration = new Histogram({
  name: 'cdrex_export_duration_seconds',
  help: 'How long a completed export took to write and publish (its last attempt).',
  buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
  registers: [registry],
});
const exportRows = new Counter({
  name: 'cdrex_export_rows_total',
  help: 'CDR rows written into completed export files.',
  registers: [registry],
});
const exportBytes = new Counter({
  name: 'cdrex_export_bytes_total',
  help: 'Bytes of completed export files (as stored, compressed).',
  registers: [registry],
});

export function countExportCompleted(ms: number, rows: number, bytes: number): void {
  exportsFinished.inc({ outcome: 'completed' });
  exportDuration.observe(ms / 1000);
  exportRows.inc(rows);
  exportBytes.inc(bytes);
}

export function countExportFailed(): void {
  exportsFinished.inc({ outcome: 'failed' });
}

const retentionRuns = new Counter({
  name: 'cdrex_retention_runs_total',
  help: 'CDR retention runs (the standing job and cdrex cdrs purge, not dry runs) by outcome: completed, or failed.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
const retentionPartitions = new Counter({
  name: 'cdrex_retention_partitions_dropped_total',
  help: 'Month partitions of cdrs the retention dropped.',
  registers: [registry],
});
const retentionRows = new Counter({
  name: 'cdrex_retention_rows_removed_total',
  help: 'CDR rows the retention removed (in dropped partitions and by deletes).',
  registers: [registry],
});
const retentionFiles = new Counter({
  name: 'cdrex_retention_export_files_expired_total',
  help: 'Export files the retention expired because they held removed rows.',
  registers: [registry],
});
const retentionLockTimeouts = new Counter({
  name: 'cdrex_retention_lock_timeouts_total',
  help: 'Tries to detach a month partition that gave up waiting for the lock (CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS); each is retried.',
  registers: [registry],
});

/** A retention run's outcome; for a failed run, what it removed before it failed. */
export function countRetentionRun(
  outcome: 'completed' | 'failed',
  removed: { partitions: number; rows: number; export_files: number },
): void {
  retentionRuns.inc({ outcome });
  retentionPartitions.inc(removed.partitions);
  retentionRows.inc(removed.rows);
  retentionFiles.inc(removed.export_files);
}

export function countRetentionLockTimeout(): void {
  retentionLockTimeouts.inc();
}

const callbackAttempts = new Counter({
  name: 'cdrex_callback_attempts_total',
  help: 'Callback deliveries tried, by outcome: delivered (2xx), http_error (another status), unreachable (no answer, refused address, timeout).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export function countCallback(outcome: { ok: boolean; status?: number }): void {
  const label = outcome.ok ? 'delivered' : outcome.status ? 'http_error' : 'unreachable';
  callbackAttempts.inc({ outcome: label });
}

const deliveries = new Counter({
  name: 'cdrex_stream_deliveries_total',
  help: 'Long responses by kind (kazoo_stream: Kazoo CSV or paginate=false; didww_download: export files) and outcome (completed, or aborted before the end).',
  labelNames: ['kind', 'outcome'] as const,
  registers: [registry],
});

/** Counts the response when it closes: completed when every byte was handed to the socket. */
export function countDelivery(res: ServerResponse, kind: 'kazoo_stream' | 'didww_download'): void {
  res.once('close', () => deliveries.inc({ kind, outcome: res.writableFinished ? 'completed' : 'aborted' }));
}
