// cdrex processes started together on one data directory (serve and worker under systemd; the
// Citus test's six) agree on its master key and roles' passwords, and none fails making them.
// Each round, four threads wait on one signal and then read or make both secrets in a new
// directory at the same instant. A shared `.tmp` renamed into place (the code before) let them
// keep different passwords and failed a late rename with ENOENT; a key file created empty and
// written after let another read an empty key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { loadMasterKey } from '../../src/accounts/secrets.js';
import type { Config } from '../../src/config.js';
import { rolePasswords } from '../../src/store/roles.js';

const THREADS = 4;
const ROUNDS = 60;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-secrets-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const WORKER_FILE = new URL('../helpers/secret-race-worker.ts', import.meta.url).href;
const OWNER = 'postgres://postgres@127.0.0.1:5432/x';

interface Report {
  round: number;
  secrets?: string;
  error?: string;
}

test('threads making the secrets at once all get the same ones, and those are the files', async () => {
  const dirs = Array.from({ length: ROUNDS }, (_, r) => path.join(root, `race-${r}`, 'data'));
  const signal = new SharedArrayBuffer(4);
  const round = new Int32Array(signal);
  const reports: Report[][] = dirs.map(() => []);
  let arrived: () => void = () => {};
  let failed: (err: Error) => void = () => {};
  const workers = Array.from({ length: THREADS }, () => {
    // A thread gets no `--import tsx` of its own: it registers tsx, then loads the TypeScript.
    const worker = new Worker(
      `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_FILE)}); })`,
      { eval: true, workerData: { signal, dirs } },
    );
    worker.on('message', (m: Report) => {
      reports[m.round].push(m);
      if (reports[m.round].length === THREADS) arrived();
    });
    worker.on('error', (err) => failed(err));
    return worker;
  });
  try {
    // A round starts when the main thread moves the counter on; a thread still loading waits for
    // the round number it has not yet run, so it joins the next signal.
    for (let r = 0; r < ROUNDS; r++) {
      const done = new Promise<void>((resolve, reject) => {
        arrived = resolve;
        failed = reject;
      });
      Atomics.store(round, 0, r + 1);
      Atomics.notify(round, 0);
      await done;
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }

  for (const [r, got] of reports.entries()) {
    assert.deepEqual(
      got.filter((m) => m.error),
      [],
      `round ${r}: no thread failed`,
    );
    const distinct = new Set(got.map((m) => m.secrets));
    assert.equal(distinct.size, 1, `round ${r}: every thread got the same secrets`);
    // What they agreed on is what a process started later reads.
    const later = {
      key: loadMasterKey({ dataDir: dirs[r] } as Config).toString('hex'),
      roles: rolePasswords(OWNER, dirs[r]),
    };
    assert.equal(JSON.stringify(later), [...distinct][0], `round ${r}: the files hold them`);
    assert.deepEqual(
      fs.readdirSync(dirs[r]).sort(),
      ['master.key', 'roles.json'],
      `round ${r}: no candidate file left behind`,
    );
  }
});

test('a roles.json without both passwords is completed, keeping the one it has', () => {
  const dir = path.join(root, 'partial');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'roles.json'), JSON.stringify({ cdrex_app: 'kept' }));
  const first = rolePasswords(OWNER, dir);
  assert.equal(first.cdrex_app, 'kept');
  assert.match(first.cdrex_worker, /^[0-9a-f]{48}$/);
  assert.deepEqual(rolePasswords(OWNER, dir), first, 'the completed file is read back as is');
  assert.equal(fs.statSync(path.join(dir, 'roles.json')).mode & 0o777, 0o600);
});

test('an owner URL with a password derives both passwords and writes no file', () => {
  const dir = path.join(root, 'derived');
  const a = rolePasswords('postgres://owner:s3cret@db.example/x', dir);
  assert.deepEqual(rolePasswords('postgres://owner:s3cret@db.example/x', dir), a);
  assert.notDeepEqual(rolePasswords('postgres://owner:other@db.example/x', dir), a);
  assert.equal(fs.existsSync(dir), false);
});

test('a damaged master.key is refused, not used as a short key', () => {
  const dir = path.join(root, 'damaged');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'master.key'), '');
  assert.throws(() => loadMasterKey({ dataDir: dir } as Config), /does not hold a master key/);
});
