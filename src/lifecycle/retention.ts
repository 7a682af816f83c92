// CDR retention: whole month partitions past the longest retention in effect are dropped (cheap,
// no dead rows); accounts that keep less lose their older rows by batched deletes. A retention of
// N months keeps the current month and the N months before it: the cut is always a month's first
// instant (UTC), so a partition is either wholly kept or wholly past every account's retention.
// Export files whose range starts before an account's cut hold removed rows: they expire (file
// deleted, `url: null`), as retention of export files does (src/export/retention.ts).
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { countRetentionLockTimeout, countRetentionRun } from '../metrics/registry.js';
import { recordAudit } from '../store/queries/audit.js';
import {
  addMonths,
  dropMonthPartition,
  monthsBefore,
  monthStart,
  partitionName,
} from '../store/partitions.js';
import {
  accountRetentions,
  countRows,
  deleteRowsBefore,
  expireExportFilesBefore,
  type AccountRetention,
  type ExpiredFile,
} from '../store/queries/lifecycle.js';
import { MIN_RETENTION_MONTHS } from './settings.js';

export interface RetentionPlan {
  /** Every account's rows before this go: whole partitions (null: no partition is dropped). */
  dropBefore: Date | null;
  /** Accounts that keep less than dropBefore allows: their rows before `before` are deleted. */
  accounts: { account_id: string; before: Date }[];
}

/** The first instant kept by a retention of `months` months. */
export function retentionCut(now: Date, months: number): Date {
  return addMonths(monthStart(now), -months);
}

/** The earliest month `before` may name: the last three months always stay (DIDWW's window). */
export function earliestAllowedCut(now: Date): Date {
  return retentionCut(now, MIN_RETENTION_MONTHS);
}

/**
 * Each account keeps its own retention_months, else the global one; null keeps everything.
 * Partitions go only before the longest retention in effect, so no account loses a row it keeps.
 */
export function planRetention(
  accounts: AccountRetention[],
  globalMonths: number | null,
  now: Date,
): RetentionPlan {
  const months = accounts.map((a) => a.retention_months ?? globalMonths);
  const keepsAll = months.some((m) => m === null) || (accounts.length === 0 && globalMonths === null);
  const longest = keepsAll ? null : Math.max(globalMonths ?? 0, ...(months as number[]));
  const dropBefore = longest === null ? null : retentionCut(now, longest);
  const shorter: RetentionPlan['accounts'] = [];
  accounts.forEach((a, i) => {
    const m = months[i];
    if (m === null) return;
    const before = retentionCut(now, m);
    if (dropBefore === null || before > dropBefore) shorter.push({ account_id: a.id, before });
  });
  return { dropBefore, accounts: shorter };
}

/** One line of what a run removed (or would remove, dry run). */
export type RemovedLine =
  | { partition: string; month: string; rows: number; dropped: boolean }
  // Rows of dropped months found in the DEFAULT partition, deleted.
  | { partition: 'cdrs_default'; before: string; rows: number; dropped: false }
  | { account_id: string; before: string; rows: number };

export interface RetentionTotals {
  partitions: number;
  rows: number;
  export_files: number;
  dry_run: boolean;
}

export interface RetentionResult {
  lines: RemovedLine[];
  totals: RetentionTotals;
}

export interface RunOptions {
  exportDir: string;
  log: Logger;
  dryRun?: boolean;
  lockTimeoutMs?: number;
  /** How many times a partition's DETACH is tried before the run gives up (failed, retried by
   * the job's next attempt). */
  lockAttempts?: number;
  /** Called with each line as soon as it is done (the CLI prints it). */
  onLine?: (line: RemovedLine) => void;
  /** Who removed the rows, for the audit log (`cli`, `job:cdr-retention`). */
  actor: string;
}

const month = (d: Date) => d.toISOString().slice(0, 7);

async function deleteFiles(exportDir: string, files: ExpiredFile[]): Promise<void> {
  for (const f of files) await fs.promises.rm(path.join(exportDir, f.file_name), { force: true });
}

/** Carries out a plan on the worker's pool; see planRetention and `cdrex cdrs purge`. A real run
 * (not a dry run) is metered (cdrex_retention_*) and audited as a whole (`cdrs.retention_run`, its
 * outcome and totals) besides each removal (`cdrs.purged`), whether it completes or fails. */
export async function applyRetention(
  pool: pg.Pool,
  plan: RetentionPlan,
  options: RunOptions,
): Promise<RetentionResult> {
  const lines: RemovedLine[] = [];
  const dryRun = options.dryRun ?? false;
  const files = { expired: 0 };
  const totals = (): RetentionTotals => ({
    partitions: lines.filter((l) => 'dropped' in l && l.dropped).length,
    rows: lines.reduce((n, l) => n + l.rows, 0),
    export_files: files.expired,
    dry_run: dryRun,
  });
  try {
    await removeAll(pool, plan, options, lines, files);
  } catch (err) {
    const done = totals();
    options.log.error({ err, retention: done, lines }, 'retention failed');
    if (!dryRun) {
      countRetentionRun('failed', done);
      await auditRun(pool, plan, options.actor, {
        outcome: 'failed',
        ...done,
        error: (err as Error).message,
      }).catch((auditErr: unknown) =>
        options.log.warn({ err: auditErr }, 'recording the failed retention run failed'),
      );
    }
    throw err;
  }
  const done = totals();
  if (!dryRun) {
    countRetentionRun('completed', done);
    await auditRun(pool, plan, options.actor, { outcome: 'completed', ...done });
  }
  options.log.info({ retention: done, lines }, dryRun ? 'retention dry run' : 'retention applied');
  return { lines, totals: done };
}

/** One event per run: a run that removed nothing is on record too (the job did run). The account
 * is named when the plan concerns one account only (`cdrex cdrs purge --account`). */
async function auditRun(
  pool: pg.Pool,
  plan: RetentionPlan,
  actor: string,
  detail: Record<string, unknown>,
): Promise<void> {
  const only = plan.dropBefore === null && plan.accounts.length === 1 ? plan.accounts[0].account_id : null;
  await recordAudit(pool, {
    account_id: only,
    action: 'cdrs.retention_run',
    actor,
    detail: {
      ...detail,
      drop_before: plan.dropBefore ? month(plan.dropBefore) : null,
      accounts: plan.accounts.length,
    },
  });
}

type Emit = (line: RemovedLine) => Promise<void>;

async function removeAll(
  pool: pg.Pool,
  plan: RetentionPlan,
  options: RunOptions,
  lines: RemovedLine[],
  files: { expired: number },
): Promise<void> {
  const dryRun = options.dryRun ?? false;
  const emit: Emit = async (line) => {
    lines.push(line);
    options.onLine?.(line);
    // Each removal is audited as it happens (a run cut short keeps the record of what it did).
    if (dryRun || (line.rows === 0 && !('dropped' in line && line.dropped))) return;
    const account = 'account_id' in line ? line.account_id : null;
    await recordAudit(pool, {
      account_id: account,
      action: 'cdrs.purged',
      actor: options.actor,
      detail: line,
    });
  };
  if (plan.dropBefore) await dropMonths(pool, plan.dropBefore, options, emit, files);
  for (const a of plan.accounts) {
    const rows = dryRun
      ? await countRows(pool, a.account_id, null, a.before)
      : await deleteRowsBefore(pool, a.account_id, a.before);
    if (!dryRun) files.expired += await expireFiles(pool, a.account_id, a.before, options.exportDir);
    await emit({ account_id: a.account_id, before: month(a.before), rows });
  }
}

/** The global retention: every month partition before `dropBefore` dropped (counted on a dry
 * run), then the strays of those months in the DEFAULT partition, then their export files. */
async function dropMonths(
  pool: pg.Pool,
  dropBefore: Date,
  options: RunOptions,
  emit: Emit,
  files: { expired: number },
): Promise<void> {
  const dryRun = options.dryRun ?? false;
  let inPartitions = 0;
  for (const m of await monthsBefore(pool, dropBefore)) {
    const rows = await countRows(pool, null, m, addMonths(m, 1));
    inPartitions += rows;
    const dropped = dryRun
      ? false
      : await dropMonthPartition(pool, m, {
          lockTimeoutMs: options.lockTimeoutMs,
          attempts: options.lockAttempts,
          onLockTimeout: (attempt) => {
            countRetentionLockTimeout();
            options.log.warn(
              { partition: partitionName(m), attempt, lockTimeoutMs: options.lockTimeoutMs },
              'retention: the partition lock was not granted in time; ingestion went on, retrying',
            );
          },
        });
    await emit({ partition: partitionName(m), month: month(m), rows, dropped });
  }
  // Rows of those months that fell into the DEFAULT partition (a safety net that should be empty).
  const strays = dryRun
    ? (await countRows(pool, null, null, dropBefore)) - inPartitions
    : await deleteRowsBefore(pool, null, dropBefore);
  if (strays > 0)
    await emit({ partition: 'cdrs_default', before: month(dropBefore), rows: strays, dropped: false });
  if (!dryRun) files.expired += await expireFiles(pool, null, dropBefore, options.exportDir);
}

/** Marks the export files of data before `before` expired and deletes them; how many. */
async function expireFiles(
  pool: pg.Pool,
  accountId: string | null,
  before: Date,
  exportDir: string,
): Promise<number> {
  const expired = await expireExportFilesBefore(pool, accountId, before);
  await deleteFiles(exportDir, expired);
  return expired.length;
}

/** The standing job's run: the plan from the accounts' and the global retention. */
export async function runRetention(
  pool: pg.Pool,
  globalMonths: number | null,
  options: RunOptions & { now?: Date },
): Promise<RetentionResult> {
  const plan = planRetention(await accountRetentions(pool), globalMonths, options.now ?? new Date());
  return applyRetention(pool, plan, options);
}
