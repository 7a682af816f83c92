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

/** Characters of COPY lines gathered before they are written (see loadStreamed). */
const BATCH_CHARS = 64 * 1024;
const monthOf = (d: Date) => d.getUTCFullYear() * 12 + d.getUTCMonth();

/** Small batches already in memory (a switch's post, a JSON body): one statement, no staging. */
const DIRECT_LIMIT = 5000;
/** How long a failed load waits for its COPY to be refused and its transaction rolled back before
 * it gives up on the connection (destroyed, not pooled: its state is then unknown). */
export const ABANDON_MS = 5000;

/** Whether `promise` settled within `ms` (its rejection counts as settled). */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
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

/**
 * The COPY straight into `cdrs`, kept while it can be: it stops being direct when a row's month
 * has no partition yet (the row would land in DEFAULT) or when the COPY fails (a duplicate). The
 * load then takes the spool path instead.
 */
class DirectCopy {
  direct = true;
  /** The COPY's own failure, not the one abandon() causes. */
  error: unknown;
  readonly done: Promise<void>;

  constructor(private readonly copy: Awaited<ReturnType<typeof beginCdrCopy>>) {
    this.done = new Promise<void>((resolve) => {
      copy.on('finish', resolve);
      copy.on('close', resolve);
      copy.on('error', (err) => {
        if (this.direct) this.error = err;
        this.direct = false;
        resolve();
      });
    });
  }

  async write(chunk: string): Promise<void> {
    if (this.direct && !this.copy.write(chunk))
      await Promise.race([once(this.copy, 'drain').catch(() => {}), this.done]);
  }

  async end(): Promise<void> {
    this.copy.end();
    await this.done;
  }

  /** Gives the COPY up: PostgreSQL refuses it, and its transaction is to be rolled back. */
  async abandon(): Promise<void> {
    this.direct = false;
    this.copy.destroy();
    await this.done;
  }
}

/** What reading a body left: its months, time bounds, rows kept and records refused. */
interface ReadBody {
  months: Map<number, Date>;
  first?: Date;
  last?: Date;
  staged: number;
  rejected: Rejected[];
  rejectedCount: number;
}

/**
 * Maps every record of `input` and hands the COPY lines of the good ones to `write`, in batches of
 * about 64 KiB: one COPY message and one spool write per batch instead of per row (per row, Node
 * made two socket writes and a file write for each CDR, and PostgreSQL read a message each: both
 * cores took turns on syscalls). `newMonth` hears of each month the first time it appears.
 */
async function readBody(
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
  write: (lines: string) => Promise<void>,
  newMonth: (t: Date) => void,
): Promise<ReadBody> {
  const suffix = [options.accountId, options.source, options.imported ? 't' : 'f'].map(copyCell).join('\t');
  const body: ReadBody = { months: new Map(), staged: 0, rejected: [], rejectedCount: 0 };
  let batch = '';
  let index = 0;
  for await (const raw of input) {
    const mapped = map(raw);
    if (typeof mapped === 'string') {
      body.rejectedCount++;
      if (body.rejected.length < (options.maxRejections ?? 1000))
        body.rejected.push({ index, reason: mapped });
    } else if (body.rejectedCount === 0 || options.partial) {
      // After a rejection (without partial) nothing will be stored: stop loading, keep validating.
      const t = mapped.time_start;
      const month = monthOf(t);
      if (!body.months.has(month)) {
        body.months.set(month, t);
        newMonth(t);
      }
      if (!body.first || t < body.first) body.first = t;
      if (!body.last || t > body.last) body.last = t;
      batch += copyLine(mapped, suffix);
      if (batch.length >= BATCH_CHARS) {
        await write(batch);
        batch = '';
      }
      body.staged++;
    }
    index++;
  }
  if (batch !== '') await write(batch);
  return body;
}

/** Opens a spool file for one load: this user's eyes only, and existing before anything can fail
 * (so the unlink after the load always finds it). A write error is kept and thrown from the
 * next write or the end, never left unhandled. */
async function openSpool(dataDir: string) {
  const path = await newSpoolPath(dataDir);
  const stream = fs.createWriteStream(path, { flags: 'wx', mode: 0o600 });
  let error: Error | undefined;
  stream.on('error', (err) => (error ??= err));
  await once(stream, 'open');
  const check = () => {
    if (error) throw error;
  };
  return {
    path,
    stream,
    async write(chunk: string) {
      check();
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    async end() {
      await new Promise<void>((resolve, reject) =>
        stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      check();
    },
  };
}

/**
 * A body of any size: COPY straight into `cdrs` while that can work (DirectCopy), every line
 * also spooled to a file; when the direct COPY could not be kept, it is rolled back and the spool
 * is loaded through the staging path (insertFromSpool: partitions made, duplicates skipped).
 */
async function loadStreamed(
  pool: pg.Pool,
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const client = await pool.connect();
  let spool: Awaited<ReturnType<typeof openSpool>> | undefined;
  let broken: Error | undefined;
  let copy: DirectCopy | undefined;
  try {
    spool = await openSpool(options.dataDir);
    const partitions = await partitionNames(client);
    // Its deep buffer (COPY_BUFFER_BYTES) lets Node parse ahead while PostgreSQL is busy with
    // the indexes, and the other way round, instead of taking turns.
    const direct = new DirectCopy(await beginCdrCopy(client));
    copy = direct;
    const written = spool;
    const body = await readBody(
      input,
      map,
      options,
      async (lines) => {
        await written.write(lines);
        await direct.write(lines);
      },
      // A month without its partition would land in DEFAULT: that body takes the staging path.
      (t) => {
        if (!partitions.has(partitionName(t))) direct.direct = false;
      },
    );
    await spool.end();
    const { rejected, staged, months } = body;
    if (body.rejectedCount > 0 && !options.partial) {
      await direct.abandon();
      await rollbackLoad(client);
      return { inserted: 0, duplicates: 0, rejected, stored: false };
    }
    // Before any partition is made (the catch below rolls the COPY back).
    checkNewMonths(months.values(), partitions, options.maxNewMonths);
    if (direct.direct) await direct.end();
    else if (!direct.error) await direct.abandon();
    if (direct.direct) {
      await commitLoad(client);
      return { inserted: staged, duplicates: 0, rejected, stored: true };
    }
    await rollbackLoad(client);
    if (direct.error && !isUniqueViolation(direct.error)) throw direct.error;
    if (staged === 0) return { inserted: 0, duplicates: 0, rejected, stored: true };
    const inserted = await insertFromSpool(pool, client, spool.path, [...months.values()], {
      accountId: options.accountId,
      first: body.first!,
      last: body.last!,
    });
    return { inserted, duplicates: staged - inserted, rejected, stored: true };
  } catch (err) {
    broken = err instanceof Error ? err : new Error(String(err));
    // A COPY still open would hold the connection: refuse it, then roll back. Should either not
    // answer in time, the connection is destroyed below, which ends the transaction as surely.
    const abandoned = copy ? copy.abandon() : Promise.resolve();
    if (await settledWithin(abandoned, ABANDON_MS)) await settledWithin(rollbackLoad(client), ABANDON_MS);
    throw err;
  } finally {
    spool?.stream.destroy();
    if (spool) await fs.promises.rm(spool.path, { force: true }).catch(() => {});
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
