// Loads DIDWW-format CSV (the export layout) into `cdrs`.
//
// When the caller can open its input again (a file, a seeded generation), the bytes are first
// COPYed straight into `cdrs` in one transaction, checked on the way by DidwwCsvScan
// (didww-scan.ts): a well-formed file of new rows for months that have their partitions is then
// stored at the cost of one COPY. Should anything stop that (a row the scan cannot vouch for, a
// duplicate, a row PostgreSQL refuses), the COPY is rolled back, nothing of it remains, and the
// input is read again through the staging path below, which stores it or reports why not.
//
// The staging path: the bytes go straight from the file into `COPY … FROM STDIN` of a temporary
// staging table whose columns are the CSV headers with their types, so PostgreSQL parses and
// checks every row (no per-row JavaScript) and reports a bad row with its line number. The staging
// rows then enter `cdrs` in one `INSERT … ON CONFLICT DO NOTHING`: a file is stored whole or not
// at all, and rows already stored (same dedupe key) count as duplicates. Given a window (the CLI
// always gives one), a row with a time outside it stops the file, with its line, before any
// partition is made.
// The SQL is src/store/queries/didww-import.ts.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { DataError, NotFoundError } from '../errors.js';
import { columnsFor, type CsvColumn } from '../formats/didww-csv.js';
import { ensureMonthPartitions, partitionNames } from '../store/partitions.js';
import { accountExists } from '../store/queries/accounts.js';
import { commitLoad, rollbackLoad } from '../store/queries/cdr-load.js';
import type { CdrKind } from '../store/queries/cdrs.js';
import { storeFailure } from '../store/errors.js';
import {
  beginDirectCopy,
  sessionReadsUtc,
  copyIntoStage,
  createStage,
  dropStage,
  firstRowOutside,
  insertStaged,
  summarizeStage,
} from '../store/queries/didww-import.js';
import { timeOutsideWindow, type IngestWindow } from './window.js';
import { countIngest } from '../metrics/registry.js';
import { DidwwCsvScan, DirectUnsure } from './didww-scan.js';
import { ABANDON_MS, settledWithin } from './records.js';

export interface ImportResult {
  inserted: number;
  duplicates: number;
  /** Which path stored the rows (or found nothing to store). */
  path: 'direct' | 'staging';
}

export interface DidwwImportOptions {
  accountId: string;
  kind: CdrKind;
  /** Trunk id for outbound rows; else (absent or empty) taken from `Voice OUT Trunk` when that
   * cell is a UUID. */
  voiceOutTrunkId?: string;
  /** Where the rows came from (`import`, `generate`…), stored in `cdrs.source`. */
  source?: string;
  /** Name of the input, for error messages. */
  fileName?: string;
  /** Rows with a time outside it are refused (ingestWindow); `cdrex import` and `generate` pass it. */
  window?: IngestWindow;
  /** Opens the same input again from its start: given, the direct path is tried first. */
  reopen?: () => Promise<Readable>;
}

/** The first staged row outside the window, as a DataError with its line (header = line 1). */
async function windowError(
  client: pg.PoolClient,
  columns: CsvColumn[],
  window: IngestWindow,
  fileName?: string,
): Promise<DataError> {
  const row = await firstRowOutside(client, columns, window);
  const reason =
    columns
      .map((c) => (row[c.header] ? timeOutsideWindow(c.header, row[c.header]!, window) : undefined))
      .find(Boolean) ?? 'a time is outside the accepted window';
  return new DataError(reason, { line: Number(row.row_number) + 1, file: fileName });
}

/** Turns PostgreSQL's COPY error into a DataError with the 1-based line (header = line 1). */
function copyError(err: unknown, fileName?: string): unknown {
  const pgErr = err as { code?: string; where?: string; message?: string };
  // Data exceptions (22…) and integrity violations (23…) are the file's fault, not ours.
  if (!pgErr.code || !/^2[23]/.test(pgErr.code) || !pgErr.where) return err;
  const line = /line (\d+)/.exec(pgErr.where)?.[1];
  const column = /column (.+?)(?::|$)/.exec(pgErr.where)?.[1];
  const message = column ? `${pgErr.message} (column ${column})` : (pgErr.message ?? 'malformed row');
  return new DataError(message, { line: line ? Number(line) : undefined, file: fileName, cause: err });
}

export async function importDidwwCsv(
  pool: pg.Pool,
  input: Readable,
  options: DidwwImportOptions,
): Promise<ImportResult> {
  if (!(await accountExists(pool, options.accountId))) {
    input.destroy();
    throw new NotFoundError(`No account has the id ${options.accountId}.`);
  }
  // An empty trunk id is none given, on both paths (the rows then keep the file's trunk UUID).
  options = { ...options, voiceOutTrunkId: options.voiceOutTrunkId?.toLowerCase() || undefined };
  if (options.reopen) {
    const direct = await importDirect(pool, input, options);
    if (direct) {
      countIngest(options.source ?? 'import', direct);
      return direct;
    }
    input = await options.reopen();
  }
  return importStaged(pool, input, options);
}

/** Whether a failed direct COPY leaves the file to the staging path: the scan could not vouch for
 * a row, or PostgreSQL refused the COPY (a duplicate, a row it cannot take, a NULL attempt the
 * staging path makes 1; Citus relays a worker's refusal as XX000 with its text). The staging path
 * then stores the file or names the row at fault. Not when the input failed, the store is
 * unavailable or the statement timed out: that would fail there too, and is thrown. */
function leavesToStaging(err: unknown): boolean {
  if (err instanceof DirectUnsure) return true;
  const { severity, code } = (err ?? {}) as { severity?: unknown; code?: unknown };
  const fromServer = typeof severity === 'string' && typeof code === 'string';
  const failure = storeFailure(err);
  return fromServer && failure !== 'unavailable' && failure !== 'timeout';
}

/** The direct path (see the top of this file): the rows stored, or undefined when the file is to
 * take the staging path (its COPY rolled back). */
async function importDirect(
  pool: pg.Pool,
  input: Readable,
  options: DidwwImportOptions,
): Promise<ImportResult | undefined> {
  const columns = columnsFor(options.kind);
  const trunk = options.kind === 'cdr_out' ? (options.voiceOutTrunkId ?? '') : undefined;
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // The scan reads the file's times as UTC: so must PostgreSQL, or a row's month could differ.
    if (!(await sessionReadsUtc(client))) return undefined;
    const scan = new DidwwCsvScan({
      columns,
      partitions: await partitionNames(client),
      window: options.window,
      suffix: [options.accountId, options.kind, options.source ?? 'import', ...(trunk ? [trunk] : [])]
        .map((cell) => `,"${cell.replace(/"/g, '""')}"`)
        .join(''),
      trunkFrom: trunk === '' ? 'Voice OUT Trunk' : undefined,
    });
    const copy = await beginDirectCopy(client, columns, options.kind);
    let refused = false;
    try {
      await pipeline(input, scan, copy);
    } catch (err) {
      if (!leavesToStaging(err)) throw err;
      refused = true;
    }
    // Equal counts, or PostgreSQL stopped reading early (a `\.` line) and the rest would be lost.
    if (!refused && Number(copy.rowCount) === scan.rows) {
      await commitLoad(client);
      return { inserted: scan.rows, duplicates: 0, path: 'direct' };
    }
    await rollbackLoad(client);
    return undefined;
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    if (broken) {
      input.destroy();
      await settledWithin(rollbackLoad(client), ABANDON_MS);
    }
    client.release(broken);
  }
}

/** The staging path (see the top of this file). */
async function importStaged(
  pool: pg.Pool,
  input: Readable,
  options: DidwwImportOptions,
): Promise<ImportResult> {
  const columns = columnsFor(options.kind);
  const client = await pool.connect();
  let broken = false;
  try {
    await createStage(client, columns);
    const copy = copyIntoStage(client);
    try {
      await pipeline(input, copy);
    } catch (err) {
      throw copyError(err, options.fileName);
    }
    const total = Number(copy.rowCount ?? 0);
    if (total === 0) return { inserted: 0, duplicates: 0, path: 'staging' };
    const stage = await summarizeStage(client, columns, options.window);
    if (options.window && stage.outside)
      throw await windowError(client, columns, options.window, options.fileName);
    await ensureMonthPartitions(pool, stage.months);
    const inserted = await insertStaged(
      client,
      columns,
      {
        accountId: options.accountId,
        kind: options.kind,
        source: options.source ?? 'import',
        voiceOutTrunkId: options.voiceOutTrunkId,
      },
      stage,
    );
    countIngest(options.source ?? 'import', { inserted, duplicates: total - inserted });
    return { inserted, duplicates: total - inserted, path: 'staging' };
  } catch (err) {
    broken = !(err instanceof DataError);
    throw err;
  } finally {
    await dropStage(client).catch(() => (broken = true));
    client.release(broken);
  }
}
