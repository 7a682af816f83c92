// Writes one export's file: `COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)` streamed through gzip
// (in parallel on every core) into a temp file, hashed on the way, fsynced, then renamed to its final,
// unguessable name. Nothing buffers the export: memory stays flat whatever the number of rows.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { columnsFor, exportExpression, LEGACY_COLUMNS } from '../formats/didww-csv.js';
import type { ExportRow } from '../store/queries/exports.js';
import { SqlParams } from '../store/queries/cdr-search.js';
import { crashPoint } from '../crash-points.js';
import { ParallelGzip } from './parallel-gzip.js';
import { ConnectionLostError } from '../errors.js';

// Level 4 on every core. Measured on these CDRs: level 4 takes 23% less CPU than level 5, and
// 39% less than level 6. Its file is about 3% larger than `gzip -6`'s, within the 5% the
// benchmark allows. zlib's levels 4 to 9 all use lazy matching; see bench/ and shared/perf-notes.md.
const GZIP_LEVEL = 4;

export interface WrittenFile {
  fileId: string;
  fileName: string;
  size: number;
  sha256: string;
  rows: number;
}

/**
 * The SELECT an export runs. COPY takes no bind parameters, so its values are transaction-local
 * settings read back by the query (SqlParams 'setting' style): no value becomes SQL text.
 */
export function exportSelect(exp: ExportRow, params: SqlParams): string {
  const columns = exp.dialect === 'cdr_exports' ? LEGACY_COLUMNS : columnsFor(exp.export_type);
  const where = [
    `account_id = ${params.account(exp.account_id)}::text`,
    `kind = ${params.add(exp.export_type)}::text`,
    `time_start >= ${params.add(exp.range_from)}::timestamptz`,
    `time_start < ${params.add(exp.range_to)}::timestamptz`,
  ];
  if (exp.did_number) {
    // Stored numbers may carry a leading + or not (E.164 from one source, DIDWW's digits from
    // another): the filter matches both spellings, as two equalities an index can still use.
    const digits = exp.did_number.replace(/^\+/, '');
    where.push(`did_number in (${params.add(digits)}::text, ${params.add(`+${digits}`)}::text)`);
  }
  if (exp.voice_out_trunk_id) where.push(`voice_out_trunk_id = ${params.add(exp.voice_out_trunk_id)}::text`);
  return `select ${columns.map(exportExpression).join(', ')} from cdrs
    where ${where.join(' and ')} order by time_start, call_id, attempt`;
}

function hashing(hash: ReturnType<typeof createHash>, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

export function tempFilePath(exportDir: string, jobId: string, leaseToken: string): string {
  return path.join(exportDir, `.tmp-${jobId}-${leaseToken}`);
}

/**
 * The COPY's no-progress watchdog: when the server has sent nothing for `stallMs` while cdrex
 * was waiting for it (not while the file's writing held the stream back), the server or the
 * network went silent. `onStall` then destroys the client, which fails the COPY at once instead
 * of after TCP gives up (node-postgres has no TCP user timeout).
 */
function watchdog(stallMs: number, waiting: () => boolean, onStall: () => void) {
  let last = Date.now();
  const timer = setInterval(
    () => {
      if (!waiting()) last = Date.now();
      else if (Date.now() - last >= stallMs) {
        clearInterval(timer);
        onStall();
      }
    },
    Math.max(50, Math.min(1000, Math.floor(stallMs / 4))),
  );
  return {
    progress: () => (last = Date.now()),
    stop: () => clearInterval(timer),
  };
}

/** `client` must be inside the export account's transaction (AccountDb.stream()). */
export async function writeExportFile(
  client: pg.PoolClient,
  exp: ExportRow,
  exportDir: string,
  tmpPath: string,
  signal: AbortSignal,
  stallMs = 60_000,
): Promise<WrittenFile> {
  // Only cdrex reads its exports (it serves them itself; PostgreSQL's COPY streams to us and
  // never touches this directory), so nobody else on the machine gets to list or read them.
  fs.mkdirSync(exportDir, { recursive: true, mode: 0o700 });
  const gzipped = exp.dialect === 'exports';
  const fileId = randomUUID();
  const fileName = `${fileId}${gzipped ? '.csv.gz' : '.csv'}`;
  const hash = createHash('sha256');
  const counter = { bytes: 0 };
  const params = new SqlParams('setting');
  const select = exportSelect(exp, params);
  let copy: ReturnType<typeof copyTo> | undefined;
  let stalled: ConnectionLostError | undefined;
  const dog = watchdog(
    stallMs,
    // Waiting for the server: before the COPY answers, or with room in the COPY's buffer.
    () => !copy || copy.readableLength < copy.readableHighWaterMark,
    () => {
      stalled = new ConnectionLostError(`no data from the database for ${stallMs} ms during the export`);
      // With a query in flight, end() destroys the socket: the COPY fails now.
      void client.end().catch(() => {});
      copy?.destroy(stalled);
    },
  );
  try {
    await client.query(params.settings());
    copy = client.query(copyTo(`copy (${select}) to stdout (format csv, header)`));
    // The server's part is over once the COPY ended; the rest (gzip, disk) is not watched here.
    copy.once('end', dog.stop);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        dog.progress();
        done(null, chunk);
      },
    });
    const stages = [
      copy,
      tap,
      ...(gzipped ? [new ParallelGzip({ level: GZIP_LEVEL })] : []),
      hashing(hash, counter),
    ];
    await pipeline([...stages, fs.createWriteStream(tmpPath, { mode: 0o600 })], { signal });
    dog.stop();
    const handle = await fs.promises.open(tmpPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    crashPoint('export:fsynced');
    const finalPath = path.join(exportDir, fileName);
    await fs.promises.rename(tmpPath, finalPath);
    await syncDir(exportDir);
    crashPoint('export:renamed');
  } catch (err) {
    dog.stop();
    await fs.promises.rm(tmpPath, { force: true });
    throw stalled ?? err;
  }
  return {
    fileId,
    fileName,
    size: counter.bytes,
    sha256: hash.digest('hex'),
    rows: Number(copy.rowCount ?? 0),
  };
}

/** Makes a rename durable: fsync the directory that holds the entry. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
