// Writes one export's file: `COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)` streamed through gzip
// (in parallel on every core) into a temp file, hashed on the way, fsynced, then renamed to its final,
// unguessable name. Nothing buffers the export: memory stays flat whatever the number of rows.
//
// With several connections the month is cut into time slices copied at once, one COPY per
// connection (all in one snapshot, see AccountDb.streams): PostgreSQL's side of an export is one
// core's work per COPY, and gzip keeps up only when several run. Slice 0 is written to the temp
// file itself, slice i to a side file `<temp>.slice-i`; once all are done the side files are
// appended in order. Slices are cut on time_start alone and the rows are ordered by time_start
// first, so rows of equal time_start are never split and the file is the single COPY's, row for
// row (gzip members end where slices do; one gunzip reads them all, RFC 1952 §2.2).
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { ExportRow } from '../store/queries/exports.js';
import {
  exportTimeBounds,
  openExportCopy,
  type ExportCopy,
  type TimeSlice,
} from '../store/queries/export-copy.js';
import { crashPoint, holdPoint } from '../crash-points.js';
import { exportFormat } from './export-format.js';
import { ConnectionLostError } from '../errors.js';

// bench/ builds the export's SELECT through this module.
export { exportSelect, type TimeSlice } from '../store/queries/export-copy.js';

export interface WrittenFile {
  fileId: string;
  fileName: string;
  size: number;
  sha256: string;
  rows: number;
}

/**
 * Cuts the export's range into `count` slices of equal time between its first and last row, so
 * that a month exported before its end does not leave slices empty. The first slice starts at
 * the range's start and the last ends at its end: the slices cover the range whatever the rows.
 */
export async function timeSlices(client: pg.ClientBase, exp: ExportRow, count: number): Promise<TimeSlice[]> {
  const whole = { from: exp.range_from, to: exp.range_to };
  if (count <= 1) return [whole];
  const { lo, hi } = await exportTimeBounds(client, exp);
  if (!lo || !hi) return [whole];
  const step = (hi.getTime() - lo.getTime()) / count;
  const cuts = Array.from(
    { length: count - 1 },
    (_, i) => new Date(lo.getTime() + Math.ceil(step * (i + 1))),
  );
  const edges = [whole.from, ...cuts, whole.to];
  return cuts.concat(whole.to).map((to, i) => ({ from: edges[i], to }));
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

/**
 * One slice's COPY into `out`, with its own no-progress watchdog; returns its row count. Only
 * slice 0 prints the header.
 */
async function copySlice(
  client: pg.PoolClient,
  exp: ExportRow,
  slice: TimeSlice,
  first: boolean,
  stages: Transform[],
  out: fs.WriteStream,
  signal: AbortSignal,
  stallMs: number,
): Promise<number> {
  let copy: ExportCopy | undefined;
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
  // Aborted (the lease lost, another slice failed): a query still waiting on a silent connection
  // would never notice, and the export would hang; end the connection, as the watchdog does.
  const onAbort = () => void client.end().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal.aborted) throw signal.reason;
    copy = await openExportCopy(client, exp, slice, first);
    // The server's part is over once the COPY ended; the rest (gzip, disk) is not watched here.
    copy.once('end', dog.stop);
    let chunks = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        dog.progress();
        if (++chunks === 2) {
          crashPoint('export:streaming');
          const hold = holdPoint('export:streaming');
          if (hold) return void hold.then(() => done(null, chunk));
        }
        done(null, chunk);
      },
    });
    await pipeline([copy, tap, ...stages, out], { signal });
    return Number(copy.rowCount ?? 0);
  } catch (err) {
    throw stalled ?? err;
  } finally {
    dog.stop();
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * `clients` must be inside the export account's transactions, all in one snapshot when there is
 * more than one (AccountDb.streams()); the export is cut into as many time slices.
 */
export async function writeExportFile(
  clients: pg.PoolClient[],
  exp: ExportRow,
  exportDir: string,
  tmpPath: string,
  signal: AbortSignal,
  stallMs = 60_000,
): Promise<WrittenFile> {
  // Only cdrex reads its exports (it serves them itself; PostgreSQL's COPY streams to us and
  // never touches this directory), so nobody else on the machine gets to list or read them.
  fs.mkdirSync(exportDir, { recursive: true, mode: 0o700 });
  const format = exportFormat(exp.dialect);
  const fileId = randomUUID();
  const fileName = `${fileId}${format.suffix}`;
  const hash = createHash('sha256');
  const counter = { bytes: 0 };
  let paths = [tmpPath];
  try {
    // An export with no rows has one slice whatever the number of clients.
    const slices = await timeSlices(clients[0], exp, clients.length);
    paths = slices.map((_, i) => (i === 0 ? tmpPath : sliceFilePath(tmpPath, i)));
    // The slices share the thread pool's gzip work; fewer members in flight each keeps memory flat.
    const maxInFlight = Math.max(2, Math.ceil(4 / slices.length));
    const rows = await copySlices(
      slices.map((slice, i) => ({
        client: clients[i],
        slice,
        stages: [
          ...format.stages(maxInFlight),
          // Slice 0 is the file's start: hashed as it is written; the others as they are appended.
          ...(i === 0 ? [hashing(hash, counter)] : []),
        ],
        path: paths[i],
      })),
      exp,
      signal,
      stallMs,
    );
    for (const side of paths.slice(1)) await appendSlice(side, tmpPath, hashing(hash, counter), signal);
    await publish(tmpPath, path.join(exportDir, fileName));
    return {
      fileId,
      fileName,
      size: counter.bytes,
      sha256: hash.digest('hex'),
      rows,
    };
  } catch (err) {
    await Promise.all(paths.map((p) => fs.promises.rm(p, { force: true })));
    throw err;
  }
}

/**
 * Copies every slice at once, each on its client into its own file; returns the rows copied. One
 * slice failing stops the others (their connections are discarded with it) and fails the whole.
 */
async function copySlices(
  parts: { client: pg.PoolClient; slice: TimeSlice; stages: Transform[]; path: string }[],
  exp: ExportRow,
  signal: AbortSignal,
  stallMs: number,
): Promise<number> {
  const abort = new AbortController();
  const onAbort = () => abort.abort(signal.reason);
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  let failure: unknown;
  try {
    const results = await Promise.allSettled(
      parts.map((part, i) =>
        copySlice(
          part.client,
          exp,
          part.slice,
          i === 0,
          part.stages,
          fs.createWriteStream(part.path, { mode: 0o600 }),
          abort.signal,
          stallMs,
        ).catch((err: unknown) => {
          failure ??= err;
          abort.abort(err);
          throw err;
        }),
      ),
    );
    if (failure !== undefined) throw failure;
    return results.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value : 0), 0);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Appends a finished slice's side file to the temp file (through `hashing`), then removes it. */
async function appendSlice(side: string, tmpPath: string, hashing: Transform, signal: AbortSignal) {
  await pipeline(fs.createReadStream(side), hashing, fs.createWriteStream(tmpPath, { flags: 'a' }), {
    signal,
  });
  await fs.promises.rm(side, { force: true });
}

/** Makes the temp file the export's file, durably: fsync it, rename it, fsync the directory. */
async function publish(tmpPath: string, finalPath: string): Promise<void> {
  const handle = await fs.promises.open(tmpPath, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  crashPoint('export:fsynced');
  await fs.promises.rename(tmpPath, finalPath);
  await syncDir(path.dirname(finalPath));
  crashPoint('export:renamed');
}

/** Where slice `i` (> 0) is written until it is appended; named after the temp file it joins. */
export function sliceFilePath(tmpPath: string, i: number): string {
  return `${tmpPath}.slice-${i}`;
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
