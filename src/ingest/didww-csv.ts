// Loads DIDWW-format CSV (the export layout) into `cdrs`.
//
// The bytes go straight from the file into `COPY … FROM STDIN` of a temporary staging table whose
// columns are the CSV headers with their types, so PostgreSQL parses and checks every row (no
// per-row JavaScript) and reports a bad row with its line number. The staging rows then enter
// `cdrs` in one `INSERT … ON CONFLICT DO NOTHING`: a file is stored whole or not at all, and
// rows already stored (same dedupe key) count as duplicates. Given a window (the CLI always gives
// one), a row with a time outside it stops the file, with its line, before any partition is made.
// The SQL is src/store/queries/didww-import.ts.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { DataError, NotFoundError } from '../errors.js';
import { columnsFor, type CsvColumn } from '../formats/didww-csv.js';
import { ensureMonthPartitions } from '../store/partitions.js';
import { accountExists } from '../store/queries/accounts.js';
import type { CdrKind } from '../store/queries/cdrs.js';
import {
  copyIntoStage,
  createStage,
  dropStage,
  firstRowOutside,
  insertStaged,
  summarizeStage,
} from '../store/queries/didww-import.js';
import { timeOutsideWindow, type IngestWindow } from './window.js';
import { countIngest } from '../metrics/registry.js';

export interface ImportResult {
  inserted: number;
  duplicates: number;
}

export interface DidwwImportOptions {
  accountId: string;
  kind: CdrKind;
  /** Trunk id for outbound rows; else taken from `Voice OUT Trunk` when that cell is a UUID. */
  voiceOutTrunkId?: string;
  /** Where the rows came from (`import`, `generate`…), stored in `cdrs.source`. */
  source?: string;
  /** Name of the input, for error messages. */
  fileName?: string;
  /** Rows with a time outside it are refused (ingestWindow); `cdrex import` and `generate` pass it. */
  window?: IngestWindow;
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
    if (total === 0) return { inserted: 0, duplicates: 0 };
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
    return { inserted, duplicates: total - inserted };
  } catch (err) {
    broken = !(err instanceof DataError);
    throw err;
  } finally {
    await dropStage(client).catch(() => (broken = true));
    client.release(broken);
  }
}
