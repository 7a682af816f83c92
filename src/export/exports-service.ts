// The business rules of exports, independent of any API dialect: what may be exported (the
// availability window), what a callback may point at, and creating the export with its job.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AccountDb } from '../store/account-db.js';
import { isRefusedAddress } from '../callbacks/address-guard.js';
import { ValidationError, type FieldProblem } from '../errors.js';
import { addMonths, monthStart } from '../store/partitions.js';
import type { CdrKind } from '../store/queries/cdrs.js';
import {
  createExport,
  deleteExport,
  PendingExportsLimitError,
  type ExportCollection,
  type ExportRow,
  type NewExport,
} from '../store/queries/exports.js';

export interface ExportRequest {
  dialect: ExportCollection;
  exportType: CdrKind;
  from: Date;
  to: Date;
  /** Which attribute to blame when the range is outside the window (`filters.month`, `filters.from`). */
  rangeField: string;
  filters: Record<string, unknown>;
  didNumber?: string;
  voiceOutTrunkId?: string;
  callbackUrl?: string;
  callbackMethod?: 'GET' | 'POST';
  externalReferenceId?: string;
}

export const WINDOW_TITLE = 'must be within the last 3 months';

/** The current month and the two before it, UTC: [start, end). */
export function availabilityWindow(now: Date): { start: Date; end: Date } {
  const current = monthStart(now);
  return { start: addMonths(current, -2), end: addMonths(current, 1) };
}

/** Problems with a callback URL: absolute http(s) required; internal IP literals refused. */
export function callbackUrlProblems(url: string, allowHosts: string[]): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is invalid';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'is invalid';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!host) return 'is invalid';
  if (net.isIP(host) && isRefusedAddress(host) && !allowHosts.includes(host.toLowerCase()))
    return 'is invalid';
  return undefined;
}

export async function requestExport(
  db: AccountDb,
  accountId: string,
  req: ExportRequest,
  options: { now: Date; allowHosts: string[]; maxPendingExports?: number; requestId?: string },
): Promise<ExportRow> {
  const problems: FieldProblem[] = [];
  const window = availabilityWindow(options.now);
  if (req.from < window.start || req.to > window.end)
    problems.push({ field: req.rangeField, title: WINDOW_TITLE });
  if (req.callbackUrl) {
    const title = callbackUrlProblems(req.callbackUrl, options.allowHosts);
    if (title) problems.push({ field: 'callback_url', title });
  }
  if (problems.length > 0) throw new ValidationError(problems);
  try {
    const input = { ...exportToCreate(accountId, req), requestId: options.requestId };
    return await createExport(db, input, { maxPending: options.maxPendingExports });
  } catch (err) {
    if (!(err instanceof PendingExportsLimitError)) throw err;
    // Fair sharing (docs/security.md): one account cannot queue without bound.
    throw new ValidationError([
      {
        field: 'data',
        title: 'has too many pending exports',
        detail:
          `The account already has ${err.limit} exports pending or processing, the most it may have; ` +
          'create this export again once one of them has completed.',
      },
    ]);
  }
}

function exportToCreate(accountId: string, req: ExportRequest): NewExport {
  return {
    id: randomUUID(),
    accountId,
    dialect: req.dialect,
    exportType: req.exportType,
    filters: req.filters,
    rangeFrom: req.from,
    rangeTo: req.to,
    didNumber: req.didNumber,
    voiceOutTrunkId: req.voiceOutTrunkId,
    callbackUrl: req.callbackUrl,
    callbackMethod: req.callbackMethod,
    externalReferenceId: req.externalReferenceId,
  };
}

/** Deletes an export and its file; false when the account has no such export. */
export async function removeExport(
  db: AccountDb,
  exportDir: string,
  accountId: string,
  dialect: ExportCollection,
  id: string,
): Promise<boolean> {
  const { found, fileNames } = await deleteExport(db, accountId, dialect, id);
  await Promise.all(fileNames.map((name) => fs.promises.rm(path.join(exportDir, name), { force: true })));
  return found;
}
