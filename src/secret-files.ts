// Secrets made once per data directory (master.key, roles.json). Several cdrex processes started
// together on one data directory (serve and worker under systemd, a test's six processes) may all
// find such a file missing. Each writes its candidate whole into a file of its own, then links it
// into place: the first link wins and the others read the winner's, so every process agrees on
// one secret and none reads a half-written file. (Writing one shared `.tmp` and renaming it let
// two processes keep different secrets, and failed the slower rename with ENOENT.)
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The content of `file`, which is made from `make()` (mode 0600) if it does not exist yet. */
export function createOnce(file: string, make: () => string): string {
  const existing = readIfExists(file);
  if (existing !== undefined) return existing;
  const tmp = writeCandidate(file, make());
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    // EEXIST: another process linked its candidate first; its file is the one all agree on.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  syncDir(path.dirname(file));
  return fs.readFileSync(file, 'utf8');
}

/** Replaces `file` whole: a reader sees the old content or the new one, never a part. */
export function replaceFile(file: string, content: string): void {
  const tmp = writeCandidate(file, content);
  try {
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  syncDir(path.dirname(file));
}

/** A durable file of this process's own beside `file`, holding `content`. */
function writeCandidate(file: string, content: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, content);
    // A key lost to a power cut after the store took rows sealed with it would lose those rows.
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
