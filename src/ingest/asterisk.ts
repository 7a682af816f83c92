// Loads Asterisk's `Master.csv` (cdr_csv: no header, every text cell quoted with `""` for a quote,
// numbers bare, an unset time as an empty cell). The columns are cdr_csv's fixed order; the
// optional ones (uniqueid, userfield, and newcdrcolumns' peeraccount, linkedid, sequence) are
// told apart by the row's cell count, row by row, since a cdr.conf reload can change them in the
// middle of a file. Rows go through the same load as every other import (loadRecords: COPY as
// cdrex_worker with the account stamped by cdrex, deduplicated). A file is stored whole or not at
// all: the first bad row (or CSV syntax error) stops it with its 1-based line number.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parse as parseCsv, CsvError } from 'csv-parse';
import type pg from 'pg';
import { DataError, NotFoundError } from '../errors.js';
import { accountExists } from '../store/queries/accounts.js';
import { loadRecords, type CdrRecord } from './records.js';
import { switchCallFields } from './switch-call.js';
import { recordOutsideWindow, type IngestWindow } from './window.js';

export type Direction = 'inbound' | 'outbound';

/** Contexts whose calls are inbound when no --direction is given (FreePBX's and common names). */
export const DEFAULT_INBOUND_CONTEXTS = ['from-trunk', 'from-pstn', 'from-external'];

export interface AsteriskImportOptions {
  accountId: string;
  /** Every row's direction; undefined: from the row's dcontext (see directionOf). */
  direction?: Direction;
  /** dcontext values meaning inbound; an entry ending in `*` matches by prefix. */
  inboundContexts: string[];
  /** IANA zone the file's times are written in (cdr_csv writes local time unless usegmtime). */
  timeZone: string;
  window: IngestWindow;
  dataDir: string;
}

const BASE = [
  'accountcode',
  'src',
  'dst',
  'dcontext',
  'clid',
  'channel',
  'dstchannel',
  'lastapp',
  'lastdata',
  'start',
  'answer',
  'end',
  'duration',
  'billsec',
  'disposition',
  'amaflags',
];
const NEW_COLUMNS = ['peeraccount', 'linkedid', 'sequence'];
/** Layout by cell count. 17 is read as uniqueid (not userfield alone): cdr.conf's sample turns
 * both on, and uniqueid is the one a call id needs. */
const LAYOUTS = new Map<number, string[]>([
  [16, BASE],
  [17, [...BASE, 'uniqueid']],
  [18, [...BASE, 'uniqueid', 'userfield']],
  [19, [...BASE, ...NEW_COLUMNS]],
  [20, [...BASE, 'uniqueid', ...NEW_COLUMNS]],
  [21, [...BASE, 'uniqueid', 'userfield', ...NEW_COLUMNS]],
]);

/** Disposition → the FreeSWITCH/Kazoo hangup cause and its Q.850 code. An Asterisk CDR keeps
 * no finer cause; FAILED (the channel could not be reached) is the generic temporary failure. */
const DISPOSITIONS: Record<string, { cause: string; q850: string }> = {
  ANSWERED: { cause: 'NORMAL_CLEARING', q850: '16' },
  'NO ANSWER': { cause: 'NO_ANSWER', q850: '19' },
  BUSY: { cause: 'USER_BUSY', q850: '17' },
  FAILED: { cause: 'NORMAL_TEMPORARY_FAILURE', q850: '41' },
  CONGESTION: { cause: 'NORMAL_CIRCUIT_CONGESTION', q850: '34' },
};

/** Whether `zone` is an IANA time zone this Node knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const WALL_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const HOUR_MS = 3_600_000;

/** Reads `YYYY-MM-DD HH:MM:SS` wall times of one zone. A time in a daylight-saving gap takes
 * the offset before the change; a time in the repeated hour is the earlier of the two. */
export function wallTimeReader(timeZone: string): (text: string) => Date | undefined {
  const utc = timeZone === 'UTC';
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  /** The zone's wall clock at instant `t`, as if it were UTC. */
  const wallAt = (t: number) => {
    const p = Object.fromEntries(format.formatToParts(new Date(t)).map((x) => [x.type, Number(x.value)]));
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  };
  // Within one wall-clock hour the offset is the same (transitions fall on whole hours), so it is
  // worked out once per hour: Intl is slow, and a file's rows crowd into few hours.
  const offsets = new Map<number, number>();
  const offsetFor = (wall: number) => {
    const hour = wall - (wall % HOUR_MS);
    let offset = offsets.get(hour);
    if (offset === undefined) {
      const before = wallAt(hour - 12 * HOUR_MS) - (hour - 12 * HOUR_MS);
      const after = wallAt(hour + 12 * HOUR_MS) - (hour + 12 * HOUR_MS);
      // Of the offsets around it, those under which this hour exists; the earliest instant wins.
      const fits = [before, after].filter((o) => wallAt(hour - o) === hour);
      offset = fits.length > 0 ? Math.max(...fits) : before;
      if (offsets.size > 10_000) offsets.clear();
      offsets.set(hour, offset);
    }
    return offset;
  };
  return (text) => {
    const m = WALL_TIME.exec(text);
    if (!m) return undefined;
    const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
    const wall = Date.UTC(year, month - 1, day, hour, minute, second);
    const back = new Date(wall);
    // Date.UTC rolls 2026-02-30 over to March: such a date is not a date.
    if (
      back.getUTCMonth() !== month - 1 ||
      back.getUTCDate() !== day ||
      hour > 23 ||
      minute > 59 ||
      second > 59
    )
      return undefined;
    return new Date(utc ? wall : wall - offsetFor(wall));
  };
}

/** `"Name" <number>`, `Name <number>`, `<number>`, or a bare number or name. */
export function parseClid(clid: string): { name: string | null; number: string | null } {
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<]*?))\s*<([^>]*)>\s*$/.exec(clid);
  if (m) {
    const name = (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]).trim();
    return { name: name || null, number: m[3].trim() || null };
  }
  const bare = clid.trim();
  if (bare === '') return { name: null, number: null };
  return /^\+?[0-9*#]+$/.test(bare) ? { name: null, number: bare } : { name: bare, number: null };
}

/** The peer of a channel name (`PJSIP/carrier-0000002a` → `carrier`); none for Local channels. */
export function channelPeer(channel: string): string | null {
  const m = /^([A-Za-z0-9]+)\/(.+?)-[0-9a-fA-F]+(?:;\d+)?$/.exec(channel);
  return m && m[1].toLowerCase() !== 'local' ? m[2] : null;
}

export function directionOf(dcontext: string, inboundContexts: string[]): Direction {
  const inbound = inboundContexts.some((c) =>
    c.endsWith('*') ? dcontext.startsWith(c.slice(0, -1)) : dcontext === c,
  );
  return inbound ? 'inbound' : 'outbound';
}

/** The call id of a row without a uniqueid: `ast-` and 32 hex characters of SHA-256 over
 * channel, start, src and dst as written in the file, joined by a unit separator (0x1f). */
export function rowHashId(row: Record<string, string>): string {
  const text = [row.channel, row.start, row.src, row.dst].join('\x1f');
  return `ast-${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

const SECONDS = /^\d{1,9}$/;

/** One row of Master.csv (its cells by column name) → a record, or why it cannot be one. */
export function asteriskRowToRecord(
  cells: string[],
  options: Pick<AsteriskImportOptions, 'direction' | 'inboundContexts'>,
  readTime: (text: string) => Date | undefined,
): CdrRecord | string {
  const layout = LAYOUTS.get(cells.length);
  if (!layout) return `${cells.length} columns; cdr_csv writes 16 to 21, see docs/fields.md`;
  const row = Object.fromEntries(layout.map((name, i) => [name, cells[i]]));
  const start = readTime(row.start);
  if (!start) return `start "${row.start}" is not a time: cdr_csv writes YYYY-MM-DD HH:MM:SS`;
  const answer = row.answer === '' ? null : readTime(row.answer);
  if (answer === undefined) return `answer "${row.answer}" is not a time: cdr_csv writes YYYY-MM-DD HH:MM:SS`;
  const end = row.end === '' ? null : readTime(row.end);
  if (end === undefined) return `end "${row.end}" is not a time: cdr_csv writes YYYY-MM-DD HH:MM:SS`;
  if (!SECONDS.test(row.duration)) return `duration "${row.duration}" is not a whole number of seconds`;
  if (!SECONDS.test(row.billsec)) return `billsec "${row.billsec}" is not a whole number of seconds`;
  const billsec = Number(row.billsec);
  const direction = options.direction ?? directionOf(row.dcontext, options.inboundContexts);
  const inbound = direction === 'inbound';
  const caller = parseClid(row.clid);
  const disposition = DISPOSITIONS[row.disposition];
  const callId = row.uniqueid || rowHashId(row);
  return {
    ...switchCallFields({ inbound, start, answer, end, callId, billsec }),
    source_number: row.src || caller.number,
    source_name: caller.name,
    destination: row.dst || null,
    callee_name: null,
    did_number: inbound ? row.dst || null : null,
    duration_s: Number(row.duration),
    billing_s: billsec,
    disconnect_code: disposition?.q850 ?? null,
    hangup_cause: disposition?.cause ?? null,
    other_leg_call_id: null,
    owner_id: null,
    authorizing_id: null,
    from_uri: null,
    to_uri: null,
    network_ip: null,
    media_ip: null,
    // A transfer's CDRs share the linkedid: they are legs of one interaction.
    interaction_id: row.linkedid || callId,
    voice_out_trunk_id: null,
    // The carrier side: the calling channel of an inbound call, the dialled one of an outbound.
    trunk_name: channelPeer(inbound ? row.channel : row.dstchannel),
    call_type: null,
    cost: null,
    rate: null,
    extra: row,
  };
}

interface ParsedRow {
  line: number;
  cells: string[];
}

/** Rows with the line each starts on (csv-parse counts the line a row ends on). */
async function* rowsOf(input: Readable): AsyncGenerator<ParsedRow> {
  const parser = input.pipe(
    parseCsv({ info: true, relax_column_count: true, skip_empty_lines: true, bom: true }),
  );
  input.on('error', (err) => parser.destroy(err));
  for await (const { record, info } of parser as AsyncIterable<{
    record: string[];
    info: { lines: number };
  }>) {
    let newlines = 0;
    for (const cell of record) for (const c of cell) if (c === '\n') newlines++;
    yield { line: info.lines - newlines, cells: record };
  }
}

export interface ImportResult {
  inserted: number;
  duplicates: number;
}

export async function importAsteriskCsv(
  pool: pg.Pool,
  input: Readable,
  options: AsteriskImportOptions,
): Promise<ImportResult> {
  if (!(await accountExists(pool, options.accountId))) {
    input.destroy();
    throw new NotFoundError(`No account has the id ${options.accountId}.`);
  }
  const readTime = wallTimeReader(options.timeZone);
  let firstBad: { line: number; reason: string } | undefined;
  // The window is checked here too (loadRecords checks it after mapping), so that every
  // rejection passes through this closure and keeps its line.
  const map = (raw: unknown): CdrRecord | string => {
    const { line, cells } = raw as ParsedRow;
    const mapped = asteriskRowToRecord(cells, options, readTime);
    const reason = typeof mapped === 'string' ? mapped : recordOutsideWindow(mapped, options.window);
    if (reason === undefined) return mapped;
    firstBad ??= { line, reason };
    return reason;
  };
  let result;
  try {
    result = await loadRecords(pool, rowsOf(input), map, {
      accountId: options.accountId,
      source: 'asterisk',
      imported: true,
      partial: false,
      // No maxNewMonths: the operator's imports may fill any number of months (decisions.md).
      window: options.window,
      dataDir: options.dataDir,
    });
  } catch (err) {
    if (err instanceof CsvError) {
      const line = typeof err.lines === 'number' ? err.lines : undefined;
      throw new DataError(`line ${line}: ${err.message}`, { line, cause: err });
    }
    throw err;
  }
  if (!result.stored) {
    const bad = firstBad ?? { line: undefined, reason: result.rejected[0]?.reason ?? 'invalid row' };
    throw new DataError(bad.line ? `line ${bad.line}: ${bad.reason}` : bad.reason, { line: bad.line });
  }
  return { inserted: result.inserted, duplicates: result.duplicates };
}
