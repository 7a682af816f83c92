// Spool files: the copy of a streamed load's rows on disk, for its staging fallback (records.ts).
// They live in `<data dir>/spool/<pid>/`, one directory per process (decisions.md "Spool files"):
// a load removes its own file whatever happens to it, and a process that died mid-load leaves a
// directory that the next `cdrex serve` or `cdrex worker` removes at start. Directories of live
// processes (another server, a running `cdrex import`) are never touched.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';

export const spoolRoot = (dataDir: string) => path.join(dataDir, 'spool');

/** This process's spool directory. */
export const spoolDir = (dataDir: string, pid = process.pid) => path.join(spoolRoot(dataDir), String(pid));

/** A new spool file's path in this process's directory (created, only this user may enter it). */
export async function newSpoolPath(dataDir: string): Promise<string> {
  const dir = spoolDir(dataDir);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  return path.join(dir, `${randomUUID()}.copy`);
}

/** Whether a process with this pid runs (a zombie does not: it is dead, only not yet reaped). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the command in parentheses, which may itself hold spaces or ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) said it runs
  }
}

/** Removes the spool directories of processes that no longer run, and returns them. Run at start,
 * before this process spools anything: a directory under its own pid is then a previous
 * process's (in a container, every start may get the same pid) and goes too. Never throws: what
 * it cannot remove is logged and left for the next start. */
export async function sweepSpool(dataDir: string, log?: Logger): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.promises.readdir(spoolRoot(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log?.warn({ err }, 'cannot read the spool directory');
    return [];
  }
  const removed: string[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid !== process.pid && processAlive(pid)) continue;
    const dir = path.join(spoolRoot(dataDir), name);
    try {
      await fs.promises.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (err) {
      log?.warn({ err, dir }, "cannot remove a dead process's spool files");
    }
  }
  if (removed.length > 0) log?.info({ removed }, 'removed the spool files of processes that no longer run');
  return removed;
}
