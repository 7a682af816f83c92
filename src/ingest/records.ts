// Loads CDR records (objects already mapped to `cdrs` columns) of one account. A stream is COPYed
// straight into `cdrs` while it is read, so parsing in Node and index maintenance in PostgreSQL
// run at the same time, and spooled to a file on the way (in `<data dir>/spool/<pid>/`, see
// spool.ts). If that cannot stand (a duplicate, or a month without its partition yet), it is rolled
// back and the spool goes through a staging table and a deduplicating INSERT. Invalid records (a time outside the ingestion window among
// them) are reported by index and reason; unless `partial`, one invalid record means nothing is
// stored. A load that would create more new month partitions than allowed stores nothing. An input
// that fails (a client gone mid-body) ends the load at once: the COPY is rolled back, its
// connection released, and its spool file removed, as on every other way out.
import { once } from 'node:events';
import fs from 'node:fs';
import type pg from 'pg';
import { ensureMonthPartitions, partitionName, partitionNames } from '../store/partitions.js';
import { isUniqueViolation } from '../store/queries/cdrs.js';
import {
  beginCdrCopy,
  commitLoad,
  insertFromSpool,
  insertRecordsFromJson,
  RECORD_COLUMNS,
  rollbackLoad,
  type CdrRecord,
} from '../store/queries/cdr-load.js';
import { countIngest, countRejected } from '../metrics/registry.js';
import { newSpoolPath } from './spool.js';
import { checkNewMonths, recordOutsideWindow, type IngestWindow } from './window.js';

export type { CdrRecord };

export interface Rejected {
  index: number;
  reason: string;
}

export interface LoadResult {
  inserted: number;
  duplicates: number;
  rejected: Rejected[];
  /** False when invalid records stopped the load (nothing stored). */
  stored: boolean;
}

export interface LoadOptions {
  accountId: string;
  source: string;
  imported: boolean;
  partial: boolean;
  /** Rejections listed in the answer at most (default 1000); any rejection still stops a load. */
  maxRejections?: number;
  /** Records with a time outside it are rejected (see ingestWindow). */
  window: IngestWindow;
  /** New month partitions this load may create; beyond, it stores nothing and throws
   * NewMonthsLimitError. Undefined: no limit (CLI imports). */
  maxNewMonths?: number;
  /** The data dir (config.dataDir): a streamed load spools to `<dataDir>/spool/<pid>/`. */
  dataDir: string;
}

/** `map`, then the window check on what it mapped. */
function mapInWindow(
  map: (raw: unknown) => CdrRecord | string,
  window: IngestWindow,
): (raw: unknown) => CdrRecord | string {
  return (raw) => {
    const mapped = map(raw);
    return typeof mapped === 'string' ? mapped : (recordOutsideWindow(mapped, window) ?? mapped);
  };
}

/** The record columns as one line of COPY's text format: tab-separated, `\N` for NULL, and
 * backslash, tab, newline and carriage return escaped. JSON needs no quoting in it (CSV would
 * double every quote of every document), which makes it the cheaper line to build. */
const NEEDS_ESCAPE = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
function copyCell(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (value instanceof Date) return value.toISOString();
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return NEEDS_ESCAPE.test(text) ? text.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]) : text;
}

function copyLine(record: CdrRecord, suffix: string): string {
  let line = '';
  for (let i = 0; i < RECORD_COLUMNS.length; i++) line += `${copyCell(record[RECORD_COLUMNS[i]])}\t`;
  return `${line}${suffix}\n`;
}

const COPY_BUFFER_BYTES = 8 << 20;
/** Characters of COPY lines gathered before they are written (see loadStreamed). */
const BATCH_CHARS = 64 * 1024;
const monthOf = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();

/** Small batches already in memory (a switch's post, a JSON body): one statement, no staging. */
const DIRECT_LIMIT = 5000;
/** How long a failed load waits for its COPY to be refused and its transaction rolled back before
 * it gives up on the connection (destroyed, not pooled: its state is then unknown). */
const ABANDON_MS = 5000;

/** Whether `promise` settled within `ms` (its rejection counts as settled). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records are mapped one by one as they stream in: `map` returns a record or a reason. Every
 * load counts into the ingest metrics by its source: stored, duplicates, and each refused record
 * (the answer lists at most maxRejections of them). */
export async function loadRecords(
  pool: pg.Pool,
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const inWindow = mapInWindow(map, options.window);
  let refused = 0;
  // A stream's unreadable record arrives as an Error; its message is the reason.
  const counted = (raw: unknown) => {
    const mapped = raw instanceof Error ? raw.message : inWindow(raw);
    if (typeof mapped === 'string') refused++;
    return mapped;
  };
  try {
    const result =
      Array.isArray(input) && input.length <= DIRECT_LIMIT
        ? await loadSmallBatch(pool, input, counted, options)
        : await loadStreamed(pool, input, counted, options);
    countIngest(options.source, result);
    return result;
  } finally {
    countRejected(options.source, refused);
  }
}

async function loadStreamed(
  pool: pg.Pool,
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const client = await pool.connect();
  let spoolPath: string | undefined;
  let spool: fs.WriteStream | undefined;
  // A write error (a full disk) is kept and thrown from the loop, never left unhandled.
  let spoolError: Error | undefined;
  const suffix = [options.accountId, options.source, options.imported ? 't' : 'f'].map(copyCell).join('\t');
  const rejected: Rejected[] = [];
  let rejectedCount = 0;
  let broken: Error | undefined;
  let abandon = async () => {};
  try {
    spoolPath = await newSpoolPath(options.dataDir);
    // CDRs: this user's eyes only. Open before going on, so the file exists before anything can
    // fail and the unlink below always finds it.
    spool = fs.createWriteStream(spoolPath, { flags: 'wx', mode: 0o600 });
    spool.on('error', (err) => (spoolError ??= err));
    await once(spool, 'open');
    const partitions = await partitionNames(client);
    // A deep buffer lets Node parse ahead while PostgreSQL is busy with the indexes, and the
    // other way round, instead of taking turns.
    const copy = await beginCdrCopy(client, COPY_BUFFER_BYTES);
    // Direct while every row has its month's partition and COPY has not failed (a duplicate).
    let direct = true;
    let copyError: unknown;
    const copyDone = new Promise<void>((resolve) => {
      copy.on('finish', resolve);
      copy.on('close', resolve);
      copy.on('error', (err) => {
        // Only a failure of the COPY itself counts, not the one our own abandoning of it causes.
        if (direct) copyError = err;
        direct = false;
        resolve();
      });
    });
    abandon = async () => {
      direct = false;
      copy.destroy();
      await copyDone;
    };
    // Lines go out in batches of about 64 KiB: one COPY message and one spool write per batch
    // instead of per row. Per row, Node made two socket writes (header, line) and a file write
    // for each CDR, and PostgreSQL read a message each: both cores took turns on syscalls.
    let batch = '';
    const writeSpool = spool;
    const flush = async () => {
      if (batch === '') return;
      const chunk = batch;
      batch = '';
      if (spoolError) throw spoolError;
      if (!writeSpool.write(chunk)) await once(writeSpool, 'drain');
      if (direct && !copy.write(chunk)) await Promise.race([once(copy, 'drain').catch(() => {}), copyDone]);
    };
    const months = new Map<number, Date>();
    let first: Date | undefined;
    let last: Date | undefined;
    let index = 0;
    let staged = 0;
    for await (const raw of input) {
      const mapped = map(raw);
      if (typeof mapped === 'string') {
        rejectedCount++;
        if (rejected.length < (options.maxRejections ?? 1000)) rejected.push({ index, reason: mapped });
      } else if (rejectedCount === 0 || options.partial) {
        // After a rejection (without partial) nothing will be stored: stop loading, keep validating.
        const t = mapped.time_start;
        const month = monthOf(t);
        if (!months.has(month)) {
          months.set(month, t);
          // A month without its partition would land in DEFAULT: that body takes the staging path.
          if (!partitions.has(partitionName(t))) direct = false;
        }
        if (!first || t < first) first = t;
        if (!last || t > last) last = t;
        batch += copyLine(mapped, suffix);
        if (batch.length >= BATCH_CHARS) await flush();
        staged++;
      }
      index++;
    }
    await flush();
    const spooled = spool;
    await new Promise<void>((resolve, reject) =>
      spooled.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
    if (spoolError) throw spoolError;
    if (rejectedCount > 0 && !options.partial) {
      await abandon();
      await rollbackLoad(client);
      return { inserted: 0, duplicates: 0, rejected, stored: false };
    }
    // Before any partition is made (the catch below rolls the COPY back).
    checkNewMonths(months.values(), partitions, options.maxNewMonths);
    if (direct) {
      copy.end();
      await copyDone;
    } else if (!copyError) await abandon();
    if (direct) {
      await commitLoad(client);
      return { inserted: staged, duplicates: 0, rejected, stored: true };
    }
    await rollbackLoad(client);
    if (copyError && !isUniqueViolation(copyError)) throw copyError;
    if (staged === 0) return { inserted: 0, duplicates: 0, rejected, stored: true };
    const inserted = await insertFromSpool(pool, client, spoolPath, [...months.values()], {
      accountId: options.accountId,
      first: first!,
      last: last!,
    });
    return { inserted, duplicates: staged - inserted, rejected, stored: true };
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    // A COPY still open would hold the connection: refuse it, then roll back. Should either not
    // answer in time, the connection is destroyed below, which ends the transaction as surely.
    if (await settledWithin(abandon(), ABANDON_MS)) await settledWithin(rollbackLoad(client), ABANDON_MS);
    throw err;
  } finally {
    spool?.destroy();
    if (spoolPath) await fs.promises.rm(spoolPath, { force: true }).catch(() => {});
    // After a failure the connection is not trusted again: release(err) destroys it.
    client.release(broken);
  }
}

async function loadSmallBatch(
  pool: pg.Pool,
  input: unknown[],
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const rejected: Rejected[] = [];
  const records: CdrRecord[] = [];
  input.forEach((raw, index) => {
    const mapped = map(raw);
    if (typeof mapped === 'string') rejected.push({ index, reason: mapped });
    else records.push(mapped);
  });
  const shown = rejected.slice(0, options.maxRejections ?? 1000);
  if (rejected.length > 0 && !options.partial)
    return { inserted: 0, duplicates: 0, rejected: shown, stored: false };
  if (records.length === 0) return { inserted: 0, duplicates: 0, rejected: shown, stored: true };
  // Fewer months than the limit cannot exceed it (a switch's post has one): no query then.
  const months = new Set(records.map((r) => monthOf(r.time_start)));
  if (options.maxNewMonths !== undefined && months.size > options.maxNewMonths)
    checkNewMonths(
      records.map((r) => r.time_start),
      await partitionNames(pool),
      options.maxNewMonths,
    );
  await ensureMonthPartitions(
    pool,
    records.map((r) => r.time_start),
  );
  const inserted = await insertRecordsFromJson(pool, records, options);
  return { inserted, duplicates: records.length - inserted, rejected: shown, stored: true };
}
