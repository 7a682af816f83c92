// Reads a DIDWW CSV on its way into `COPY cdrs … FROM STDIN (FORMAT csv, HEADER true)` and passes
// it on with the load's own cells appended to every row (the account, kind and source, and for
// outbound rows the trunk id), so the file can go straight into `cdrs` without a staging table.
// It checks on the way what the staging path checks in SQL and COPY into `cdrs` would not: the
// header byte for byte, the ingestion window, that no integer is negative, and that each row's
// month already has its partition (else the row would land in DEFAULT). It gives up (DirectUnsure)
// at the first row it cannot vouch for, including any time not written `YYYY-MM-DD HH:MM:SS`; the
// caller then loads the file through the staging path, which either stores it or says why not.
//
// CSV as PostgreSQL reads it: every `"` toggles quoting (so `""` inside quotes and quotes in the
// middle of a cell both come out right), and `,` and line ends count only outside quotes.
import { Transform, type TransformCallback } from 'node:stream';
import type { CsvColumn } from '../formats/didww-csv.js';
import { headerLine } from '../formats/didww-csv.js';
import { partitionName } from '../store/partitions.js';
import type { IngestWindow } from './window.js';

/** How a cell is checked: not at all, as time_start (window and partition), as another time (window;
 * empty is NULL), as an integer (not negative), or as the trunk whose UUID becomes the trunk id. */
const NONE = 0;
const START = 1;
const TIME = 2;
const INTEGER = 3;
const TRUNK = 4;
const MAX_ROW_BYTES = 1 << 20;

/** The file cannot take the direct path; `reason` says why (for the log, never the user). */
export class DirectUnsure extends Error {}

export interface ScanOptions {
  columns: CsvColumn[];
  /** Partition names that exist now (partitionNames). */
  partitions: Set<string>;
  window?: IngestWindow;
  /** The cells appended to every row, CSV-quoted, each after a comma. */
  suffix: string;
  /** Outbound rows without a given trunk id: the column whose UUID value becomes the trunk id,
   * appended after `suffix` (empty when the cell is no UUID). */
  trunkFrom?: string;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const MINUS = 0x2d;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `YYYY-MM-DD HH:MM:SS` in a whole second, as compared byte by byte with the cells. */
function secondText(ms: number): Buffer {
  return Buffer.from(new Date(ms).toISOString().slice(0, 19).replace('T', ' '), 'latin1');
}

/** The value of a quoted cell data[start … end) of `length` bytes written `"<value>"` (no quote
 * inside), else DirectUnsure. */
function plainlyQuoted(data: Buffer, start: number, end: number, length: number): [number, number] {
  if (end - start !== length + 2 || data[start] !== QUOTE || data[end - 1] !== QUOTE)
    throw new DirectUnsure('a quoted cell in another form');
  return [start + 1, end - 1];
}

/** A quoted cell's value as PostgreSQL reads it: each `"` opens or closes quoting, and `""` within
 * quotes is one `"`. */
function unquote(data: Buffer, start: number, end: number): string {
  const value: number[] = [];
  let inQuotes = false;
  for (let i = start; i < end; i++) {
    if (data[i] !== QUOTE) value.push(data[i]);
    else if (inQuotes && i + 1 < end && data[i + 1] === QUOTE) value.push(data[++i]);
    else inQuotes = !inQuotes;
  }
  return Buffer.from(value).toString('utf8');
}

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** Positions of the digits in `YYYY-MM-DD HH:MM:SS`, and of its separators. */
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
const SEPARATORS: [number, number][] = [
  [4, MINUS],
  [7, MINUS],
  [10, 0x20],
  [13, 0x3a],
  [16, 0x3a],
];

/** Whether data[at … at+19) is a time PostgreSQL reads as that very second: hours, minutes and
 * seconds in range (`24:00:00` and leap seconds roll into the next day, maybe the next month). */
function plainTime(data: Buffer, at: number): boolean {
  for (const i of DIGITS) if (!isDigit(data[at + i])) return false;
  for (const [i, b] of SEPARATORS) if (data[at + i] !== b) return false;
  const two = (i: number) => (data[at + i] - 0x30) * 10 + (data[at + i + 1] - 0x30);
  return two(11) <= 23 && two(14) <= 59 && two(17) <= 59;
}

export class DidwwCsvScan extends Transform {
  /** Rows passed on (the header not counted). */
  rows = 0;
  readonly #columns: number;
  readonly #header: Buffer;
  readonly #suffix: Buffer;
  /** What each cell of a row is checked as, by its position. */
  readonly #checks: Uint8Array;
  readonly #from?: Buffer;
  readonly #to?: Buffer;
  readonly #partitions: Set<string>;
  /** The month (`YYYY-MM`) of the last row, whose partition is known to exist. */
  #month = Buffer.alloc(7);
  #headerSeen = false;
  /** The start of a row that the last chunk cut. */
  #carry: Buffer | undefined;
  #trunk = '';
  readonly #trunked: boolean;

  constructor(options: ScanOptions) {
    super();
    const { columns } = options;
    this.#columns = columns.length;
    this.#header = Buffer.from(headerLine(columns), 'utf8');
    this.#suffix = Buffer.from(options.suffix, 'utf8');
    this.#checks = Uint8Array.from(columns, (c) => {
      if (c.column === 'time_start') return START;
      if (c.type === 'timestamptz') return TIME;
      if (c.type === 'integer') return INTEGER;
      return c.header === options.trunkFrom ? TRUNK : NONE;
    });
    this.#trunked = options.trunkFrom !== undefined;
    if (options.window) {
      this.#from = secondText(Math.ceil(options.window.from.getTime() / 1000) * 1000);
      this.#to = secondText(Math.floor(options.window.to.getTime() / 1000) * 1000);
    }
    this.#partitions = options.partitions;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const data = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = undefined;
    try {
      const { out, used } = this.#rows(data, false);
      if (used < data.length) this.#carry = Buffer.from(data.subarray(used));
      // A row is carried whole into the next chunk and scanned again: a long one, no DIDWW row,
      // would make that quadratic.
      if (this.#carry && this.#carry.length > MAX_ROW_BYTES) throw new DirectUnsure('a row over 1 MiB');
      done(null, out.length > 0 ? out : undefined);
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      // The last row may have no line end.
      const out = this.#carry ? this.#rows(this.#carry, true).out : undefined;
      if (!this.#headerSeen) throw new DirectUnsure('no header');
      done(null, out && out.length > 0 ? out : undefined);
    } catch (err) {
      done(err as Error);
    }
  }

  /** The whole rows of `data` with the suffix appended; `used` is where the first cut row begins. */
  #rows(data: Buffer, last: boolean): { out: Buffer; used: number } {
    const extra = this.#suffix.length + (this.#trunked ? 37 : 0);
    // A row has at least a comma per column, so at most this many rows fit in `data`.
    const out = Buffer.allocUnsafe(data.length + (Math.floor(data.length / this.#columns) + 1) * extra);
    let o = 0;
    let rowStart = 0;
    let fieldStart = 0;
    let field = 0;
    let quoted = false;
    let inQuotes = false;
    const n = data.length;
    for (let i = 0; i <= n; i++) {
      const b = i < n ? data[i] : -1;
      if (b === QUOTE) {
        inQuotes = !inQuotes;
        quoted = true;
        continue;
      }
      if (inQuotes) {
        if (i === n) break; // cut inside quotes: wait for the rest (or fail at the end)
        continue;
      }
      if (b === COMMA) {
        this.#cell(data, field, fieldStart, i, quoted);
        field++;
        fieldStart = i + 1;
        quoted = false;
        continue;
      }
      // A row ends at its LF, or at the end of the file.
      if (b !== LF && !(i === n && last && i > rowStart)) continue;
      // The row ends at i (its LF, or the end of the file); its content before a CR of CRLF. (A
      // CR anywhere else outside quotes, PostgreSQL refuses: the staging path then says so.)
      const end = i > rowStart && data[i - 1] === CR ? i - 1 : i;
      this.#cell(data, field, fieldStart, end, quoted);
      if (field + 1 !== this.#columns) throw new DirectUnsure(`a row of ${field + 1} cells`);
      if (!this.#headerSeen) {
        if (!data.subarray(rowStart, end).equals(this.#header)) throw new DirectUnsure('another header');
        this.#headerSeen = true;
        o += data.copy(out, o, rowStart, Math.min(i + 1, n));
      } else {
        o += data.copy(out, o, rowStart, end);
        o += this.#suffix.copy(out, o);
        if (this.#trunked) o += out.write(`,${this.#trunk}`, o, 'latin1');
        o += data.copy(out, o, end, Math.min(i + 1, n));
        this.rows++;
      }
      rowStart = i + 1;
      fieldStart = rowStart;
      field = 0;
      quoted = false;
    }
    if (last && inQuotes) throw new DirectUnsure('a quote left open');
    return { out: out.subarray(0, o), used: Math.min(rowStart, n) };
  }

  /** Checks cell `field` of a data row, data[start … end); `quoted` if it held a quote. */
  #cell(data: Buffer, field: number, start: number, end: number, quoted: boolean): void {
    const check = this.#headerSeen ? this.#checks[field] : NONE;
    if (check === NONE) return;
    if (check === INTEGER) {
      for (let i = start; i < end; i++) if (data[i] === MINUS) throw new DirectUnsure('a negative integer');
      return;
    }
    if (check === TRUNK) {
      const text = quoted ? unquote(data, start, end) : data.toString('latin1', start, end);
      this.#trunk = UUID.test(text) ? text.toLowerCase() : '';
      return;
    }
    if (end === start && !quoted && check === TIME) return; // NULL (time_start is required)
    if (quoted) [start, end] = plainlyQuoted(data, start, end, 19);
    if (end - start !== 19 || !plainTime(data, start)) throw new DirectUnsure('a time in another form');
    if (this.#from && data.compare(this.#from, 0, 19, start, end) < 0) throw new DirectUnsure('before');
    if (this.#to && data.compare(this.#to, 0, 19, start, end) > 0) throw new DirectUnsure('after');
    if (check === START && data.compare(this.#month, 0, 7, start, start + 7) !== 0)
      this.#newMonth(data, start);
  }

  #newMonth(data: Buffer, start: number): void {
    const year = Number(data.toString('latin1', start, start + 4));
    const month = Number(data.toString('latin1', start + 5, start + 7));
    if (month < 1 || month > 12) throw new DirectUnsure('no such month');
    const first = new Date(0);
    first.setUTCFullYear(year, month - 1, 1); // Date.UTC would read years below 100 as 19xx
    if (!this.#partitions.has(partitionName(first))) throw new DirectUnsure('a month without its partition');
    this.#month = Buffer.from(data.subarray(start, start + 7));
  }
}
