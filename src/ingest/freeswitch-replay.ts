// Replays the CDRs FreeSWITCH's mod_json_cdr could not post: after its retries it writes each one
// to its err-log-dir as `<uuid>.cdr.json` (`a_<uuid>.cdr.json` with prefix-a-leg; dated
// subdirectories with rotate), and nothing sends them again. Each file is loaded like a post
// (loadFreeswitchCdr), reported on its own, and optionally moved, so an operator can run the
// replay from cron after an outage and run it again safely: a CDR already stored is a duplicate.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.js';
import { storeFailure } from '../store/errors.js';
import { kazooId } from '../formats/kazoo.js';
import { loadFreeswitchCdr, parseFreeswitchJson } from './freeswitch.js';
import type { IngestWindow } from './window.js';

/** The same cap as a post's body: a CDR with every variable and SDP is some tens of KiB. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface ReplayOutcome {
  file: string;
  status: 'stored' | 'duplicate' | 'failed';
  /** The CDR's Kazoo id (stored, or the one a duplicate repeats), as POST /ingest/freeswitch
   * answers it. */
  id?: string;
  reason?: string;
  /** Where the file was moved (--move-done, --move-failed). */
  moved_to?: string;
  /** Why it could not be moved (it stays where it was). */
  move_error?: string;
}

export interface ReplayOptions {
  accountId: string;
  window: IngestWindow;
  config: Pick<Config, 'fsDirectionVar' | 'fsTrunkVar' | 'dataDir'>;
  /** Stored and duplicate files are moved here. */
  moveDone?: string;
  /** Failed files are moved here. */
  moveFailed?: string;
}

/** A file that cannot be replayed as it is: reported, and the run goes on. */
class FileFailure extends Error {}

/** The CDR of one err-log-dir file. The module writes what it would have posted: plain JSON, or
 * with `encode` set, the URL-encoded or base64 form of it (without the `cdr=` of the form). */
export function decodeErrLogFile(text: string): unknown {
  const body = text.trim();
  let json = body;
  if (/^%7b/i.test(body)) json = safely(() => decodeURIComponent(body), 'not valid URL-encoded JSON');
  else if (!body.startsWith('{') && /^[A-Za-z0-9+/]+={0,2}$/.test(body))
    json = Buffer.from(body, 'base64').toString('utf8');
  return safely(() => parseFreeswitchJson(json), 'not valid JSON');
}

function safely<T>(fn: () => T, reason: string): T {
  try {
    return fn();
  } catch {
    throw new FileFailure(reason);
  }
}

/** The files named, and the `*.json` files under the directories named (recursively), in order; a
 * path that cannot be read is returned with its error. */
async function listFiles(paths: string[]): Promise<{ file: string; error?: string }[]> {
  const found: { file: string; error?: string }[] = [];
  const walk = async (dir: string) => {
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && entry.name.endsWith('.json')) found.push({ file: full });
    }
  };
  for (const p of paths) {
    try {
      if ((await fs.promises.stat(p)).isDirectory()) await walk(p);
      else found.push({ file: p });
    } catch (err) {
      found.push({ file: p, error: (err as Error).message });
    }
  }
  return found;
}

/** Moves `file` into `dir` under its own name; across file systems by copy and unlink. */
async function moveInto(file: string, dir: string): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  const target = path.join(dir, path.basename(file));
  try {
    await fs.promises.rename(file, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fs.promises.copyFile(file, target);
    await fs.promises.unlink(file);
  }
  return target;
}

async function replayOne(pool: pg.Pool, file: string, options: ReplayOptions): Promise<ReplayOutcome> {
  try {
    const { size } = await fs.promises.stat(file);
    if (size > MAX_FILE_BYTES) throw new FileFailure(`larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`);
    const doc = decodeErrLogFile(await fs.promises.readFile(file, 'utf8'));
    const result = await loadFreeswitchCdr(pool, doc, options);
    if (!result.stored || !result.record)
      throw new FileFailure(result.rejected[0]?.reason ?? 'not a valid CDR');
    const { kind, time_start: start, call_id: callId, attempt } = result.record;
    const id = kazooId({ kind, timeStart: start.toISOString(), callId, attempt });
    return { file, status: result.inserted > 0 ? 'stored' : 'duplicate', id };
  } catch (err) {
    if (err instanceof FileFailure) return { file, status: 'failed', reason: err.message };
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
      return { file, status: 'failed', reason: (err as Error).message };
    // A value PostgreSQL refuses is this file's fault; a store that is down is not, so the run
    // stops there and the file stays where it is for the next run.
    if (storeFailure(err) === 'bad_input')
      return { file, status: 'failed', reason: 'a value in the CDR is not valid' };
    throw err;
  }
}

/** Replays every file under `paths`, one outcome per file, in order. */
export async function* replayFreeswitchFiles(
  pool: pg.Pool,
  paths: string[],
  options: ReplayOptions,
): AsyncGenerator<ReplayOutcome> {
  for (const { file, error } of await listFiles(paths)) {
    const outcome: ReplayOutcome = error
      ? { file, status: 'failed', reason: error }
      : await replayOne(pool, file, options);
    const dir = outcome.status === 'failed' ? options.moveFailed : options.moveDone;
    // A path that could not be read cannot be moved either.
    if (dir && !error) {
      try {
        outcome.moved_to = await moveInto(file, dir);
      } catch (err) {
        outcome.move_error = (err as Error).message;
      }
    }
    yield outcome;
  }
}
