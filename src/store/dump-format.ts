// The file `cdrex db dump` writes and `cdrex db restore` reads: gzip of
//   one header line (JSON: format, schema version, PostgreSQL version, tables, partitions,
//   sequences);
//   per table: a JSON line naming it and its columns, its rows in COPY's text format, a line
//   `\.`, and a JSON line with its row count;
//   one end line (JSON: tables and rows in all).
// Lines, so `zcat FILE | less` shows what a dump holds. COPY's text format escapes newlines and
// backslashes inside values, so a line that is exactly `\.` can only end a table, and each row
// is one line. The counts and the end line catch a file cut short even where gzip would not.

export const FORMAT = 'cdrex-dump';
export const FORMAT_VERSION = 1;

export interface DumpHeader {
  format: typeof FORMAT;
  format_version: number;
  /** The newest migration applied to the dumped store (schema_migrations). */
  schema_version: number;
  /** The dumped server's version (server_version). */
  postgres: string;
  created_at: string;
  /** In the order they follow, each after the tables its foreign keys name. */
  tables: string[];
  /** Month partitions of cdrs, as YYYY-MM. */
  partitions: string[];
  /** Last values of the schema's sequences (null: never used). */
  sequences: { name: string; last_value: string | null }[];
}

export interface TableStart {
  table: string;
  columns: string[];
}

export type DumpEvent =
  | { kind: 'header'; header: DumpHeader }
  | { kind: 'table'; table: TableStart }
  | { kind: 'rows'; chunk: Buffer }
  | { kind: 'table-end'; table: string; rows: number }
  | { kind: 'end'; tables: number; rows: number };

/** The file is not a whole, well-formed dump (truncated, corrupted, or not a dump at all). */
export class DumpFileError extends Error {}

export const TABLE_END = Buffer.from('\\.\n');
const NEWLINE = 0x0a;
const TERMINATOR = Buffer.from('\n\\.\n');

export const jsonLine = (value: unknown): Buffer => Buffer.from(`${JSON.stringify(value)}\n`);

/** Rows in a chunk of COPY text output: one per newline. */
export function countLines(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

function parseLine(line: Buffer, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(line.toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new DumpFileError(`The dump is damaged: expected ${what}, found something else.`);
}

function checkHeader(value: Record<string, unknown>): DumpHeader {
  if (value.format !== FORMAT) throw new DumpFileError('This file is not a cdrex dump.');
  if (value.format_version !== FORMAT_VERSION)
    throw new DumpFileError(
      `The dump has format version ${String(value.format_version)}; this cdrex reads version ${FORMAT_VERSION}.`,
    );
  const ok =
    Number.isInteger(value.schema_version) &&
    Array.isArray(value.tables) &&
    Array.isArray(value.partitions) &&
    Array.isArray(value.sequences);
  if (!ok) throw new DumpFileError('The dump is damaged: its header is incomplete.');
  return value as unknown as DumpHeader;
}

/**
 * Reads a dump's (gunzipped) bytes as events, checking its structure on the way: the header
 * first, the tables the header lists in its order, each table's row count, and the end line
 * last, with nothing after it. Rows come as chunks of whole COPY text lines.
 * Kept whole on purpose: one state machine over the dump's lines whose states share `expect`,
 * the header and the row counts.
 */
export async function* readDump(input: AsyncIterable<Buffer>): AsyncGenerator<DumpEvent> {
  type Expect = 'header' | 'table-or-end' | 'rows' | 'count' | 'nothing';
  let expect = 'header' as Expect;
  let header: DumpHeader | undefined;
  let table = '';
  let rows = 0;
  let totalRows = 0;
  let tablesDone = 0;
  let buf: Buffer = Buffer.alloc(0);

  function* handleLine(line: Buffer): Generator<DumpEvent> {
    if (expect === 'nothing') throw new DumpFileError('The dump is damaged: it goes on after its end.');
    if (expect === 'header') {
      header = checkHeader(parseLine(line, 'a cdrex dump header'));
      expect = 'table-or-end';
      yield { kind: 'header', header };
      return;
    }
    if (expect === 'count') {
      const value = parseLine(line, `the row count of ${table}`);
      if (value.table !== table || value.rows !== rows)
        throw new DumpFileError(
          `The dump is damaged: table ${table} should have ${String(value.rows)} rows, it has ${rows}.`,
        );
      tablesDone++;
      totalRows += rows;
      expect = 'table-or-end';
      yield { kind: 'table-end', table, rows };
      return;
    }
    const value = parseLine(line, 'a table or the end of the dump');
    const tables = header!.tables;
    if (value.end === true) {
      if (tablesDone !== tables.length || value.rows !== totalRows)
        throw new DumpFileError('The dump is damaged: its end does not match its tables.');
      expect = 'nothing';
      yield { kind: 'end', tables: tablesDone, rows: totalRows };
      return;
    }
    const expected = tables[tablesDone];
    if (expected === undefined || value.table !== expected || !Array.isArray(value.columns))
      throw new DumpFileError(`The dump is damaged: expected ${expected ? `table ${expected}` : 'its end'}.`);
    table = expected;
    rows = 0;
    expect = 'rows';
    yield { kind: 'table', table: { table, columns: value.columns as string[] } };
  }

  // Every complete unit in buf, as events; the incomplete rest stays in buf.
  function* drain(): Generator<DumpEvent> {
    for (;;) {
      if (expect === 'rows') {
        // buf starts at a line start here, so the terminator is `\.` at 0 or after a newline.
        const atStart = buf.subarray(0, TABLE_END.length).equals(TABLE_END);
        const at = atStart ? -1 : buf.indexOf(TERMINATOR);
        const end = atStart ? 0 : at === -1 ? -1 : at + 1;
        const upTo = end === -1 ? buf.lastIndexOf(NEWLINE) + 1 : end;
        if (upTo > 0) {
          const chunk = buf.subarray(0, upTo);
          rows += countLines(chunk);
          yield { kind: 'rows', chunk };
        }
        if (end === -1) {
          buf = buf.subarray(upTo);
          return;
        }
        buf = buf.subarray(end + TABLE_END.length);
        expect = 'count';
        continue;
      }
      const newline = buf.indexOf(NEWLINE);
      if (newline === -1) return;
      const line = buf.subarray(0, newline);
      buf = buf.subarray(newline + 1);
      yield* handleLine(line);
    }
  }

  for await (const chunk of input) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    yield* drain();
  }
  if (expect !== 'nothing' || buf.length > 0)
    throw new DumpFileError('The dump is cut short: it ends before its last table or its end line.');
}
