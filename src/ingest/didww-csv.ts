// Loads DIDWW-format CSV (the export layout) into `cdrs`.
//
// The bytes go straight from the file into `COPY … FROM STDIN` of a temporary staging table whose
// columns are the CSV headers with their types, so PostgreSQL parses and checks every row (no
// per-row JavaScript) and reports a bad row with its line number. The staging rows then enter
// `cdrs` in one `INSERT … ON CONFLICT DO NOTHING`: a file is stored whole or not at all, and
// rows already stored (same dedupe key) count as duplicates. Given a window (the CLI always gives
// one), a row with a time outside it stops the file, with its line, before any partition is made.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DataError, NotFoundError } from '../errors.js';
import { columnsFor, quoteIdent, type CsvColumn } from '../formats/didww-csv.js';
import { ensureMonthPartitions } from '../store/partitions.js';
import { accountExists } from '../store/queries/accounts.js';
import { insertDeduplicated, type CdrKind } from '../store/queries/cdrs.js';
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

const STAGE = 'cdr_stage';
const UUID_RE = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

function stageTableSql(columns: CsvColumn[]): string {
  const defs = columns.map((c) => {
    const checks = [
      c.required ? 'not null' : '',
      c.type === 'integer' ? `check (${quoteIdent(c.header)} >= 0)` : '',
    ];
    return `${quoteIdent(c.header)} ${c.type} ${checks.join(' ')}`.trim();
  });
  return `create temp table ${STAGE} (${defs.join(', ')})`;
}

function insertSql(columns: CsvColumn[], kind: CdrKind, onConflict: string): string {
  const targets = columns.map((c) => c.column);
  const values = columns.map((c) =>
    c.column === 'attempt' ? `coalesce(${quoteIdent(c.header)}, 1)` : quoteIdent(c.header),
  );
  targets.push('account_id', 'kind', 'source');
  values.push('$1::text', '$2::text', '$3::text');
  if (kind === 'cdr_out') {
    targets.push('voice_out_trunk_id');
    values.push(
      `coalesce($4::text, case when "Voice OUT Trunk" ~ '${UUID_RE}' then lower("Voice OUT Trunk") end)`,
    );
  }
  return `insert into cdrs (${targets.join(', ')}) select ${values.join(', ')} from ${STAGE}
    ${onConflict}`;
}

const TIME_COLUMNS = new Set(['time_start', 'time_connect', 'time_end']);

/** `true` for a staged row with a time outside $1 … $2 (null when no window is given). */
function outsideSql(columns: CsvColumn[]): string {
  return columns
    .filter((c) => TIME_COLUMNS.has(c.column))
    .map((c) => `${quoteIdent(c.header)} not between $1::timestamptz and $2::timestamptz`)
    .join(' or ');
}

/** The first staged row outside the window, as a DataError with its line (header = line 1).
 * Rows of a freshly filled temp table lie in ctid order as COPY read them. */
async function windowError(
  client: pg.PoolClient,
  columns: CsvColumn[],
  window: IngestWindow,
  fileName?: string,
): Promise<DataError> {
  const times = columns.filter((c) => TIME_COLUMNS.has(c.column));
  const { rows } = await client.query<Record<string, Date | null>>(
    `select * from (select row_number() over (order by ctid) as row_number,
              ${times.map((c) => quoteIdent(c.header)).join(', ')} from ${STAGE}) s
      where ${outsideSql(columns)} order by row_number limit 1`,
    [window.from, window.to],
  );
  const row = rows[0];
  const reason =
    times
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
    await client.query(`drop table if exists ${STAGE}`);
    await client.query(stageTableSql(columns));
    const copy = client.query(copyFrom(`copy ${STAGE} from stdin (format csv, header match)`));
    try {
      await pipeline(input, copy);
    } catch (err) {
      throw copyError(err, options.fileName);
    }
    const total = Number(copy.rowCount ?? 0);
    if (total === 0) return { inserted: 0, duplicates: 0 };
    const { rows } = await client.query<{ months: Date[]; first: Date; last: Date; outside: boolean }>(
      `select array_agg(distinct date_trunc('month', "Date/Time Start (UTC)", 'UTC')) as months,
              min("Date/Time Start (UTC)") as first, max("Date/Time Start (UTC)") as last,
              coalesce(bool_or(${outsideSql(columns)}), false) as outside from ${STAGE}`,
      [options.window?.from ?? null, options.window?.to ?? null],
    );
    if (options.window && rows[0].outside)
      throw await windowError(client, columns, options.window, options.fileName);
    await ensureMonthPartitions(pool, rows[0].months);
    const params: (string | null)[] = [options.accountId, options.kind, options.source ?? 'import'];
    if (options.kind === 'cdr_out') params.push(options.voiceOutTrunkId?.toLowerCase() ?? null);
    const inserted = await insertDeduplicated(
      client,
      { accountId: options.accountId, kind: options.kind, first: rows[0].first, last: rows[0].last },
      (onConflict) => insertSql(columns, options.kind, onConflict),
      params,
    );
    countIngest(options.source ?? 'import', { inserted, duplicates: total - inserted });
    return { inserted, duplicates: total - inserted };
  } catch (err) {
    broken = !(err instanceof DataError);
    throw err;
  } finally {
    await client.query(`drop table if exists ${STAGE}`).catch(() => (broken = true));
    client.release(broken);
  }
}
