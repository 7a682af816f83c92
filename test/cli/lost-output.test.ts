// cdrex serve and cdrex worker outlive nobody: when whoever read their output is gone (the parent
// that read stderr died, the terminal script(1) gave them was hung up), they still end on
// SIGTERM, and a hung-up terminal ends them by itself (SIGHUP). Before the fix, a serve whose
// terminal was gone stopped listening and then sat in the logger's exit flush, retrying a write
// to the dead terminal forever and never running a signal handler again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { CDREX_BIN, hasScript } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort, testEnv, waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-lost-output-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** How long a process may take to end once told to: the shutdown deadline (10 s) and some. */
const EXIT_DEADLINE_MS = 30_000;

/** Whether pid is a live process (a zombie has ended: it only waits to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits for pid to end; false when it is still there after the deadline. */
async function ended(pid: number): Promise<boolean> {
  try {
    return await waitFor(async () => !alive(pid), `process ${pid} to end`, EXIT_DEADLINE_MS);
  } catch {
    return false;
  }
}

/** Any pid the test started and that is still alive at the end is killed. */
function killAtEnd(pid: () => number | undefined) {
  after(() => {
    const p = pid();
    if (p !== undefined && alive(p)) process.kill(p, 'SIGKILL');
  });
}

async function env() {
  return { ...process.env, ...testEnv(db, dataDir, { PORT: String(await freePort()), LOG_LEVEL: 'info' }) };
}

const COMMANDS = [
  { args: ['serve', '--no-worker'], ready: 'cdrex serving' },
  { args: ['worker'], ready: 'cdrex worker running' },
];

describe('stderr read by a pipe whose reader goes away', () => {
  for (const { args, ready } of COMMANDS)
    test(`cdrex ${args[0]} still ends on SIGTERM`, { timeout: 120_000 }, async () => {
      const e = await env();
      const child = spawn(process.execPath, [CDREX_BIN, ...args], {
        env: e,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      killAtEnd(() => child.pid);
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor(async () => err.includes(ready), ready, 90_000);
      child.stderr.destroy(); // the reader is gone: the next write gets EPIPE
      if (args[0] === 'serve')
        // Requests are logged: they write to the closed pipe.
        for (let i = 0; i < 5; i++) {
          const res = await fetch(`http://127.0.0.1:${e.PORT}/no-such-page`);
          assert.equal(res.status, 404, 'it still serves');
        }
      child.kill('SIGTERM');
      assert.ok(await ended(child.pid!), `cdrex ${args[0]} did not end on SIGTERM`);
    });
});

describe('a terminal (script(1)) that is hung up', { skip: !hasScript() }, () => {
  for (const { args, ready } of COMMANDS)
    test(`cdrex ${args[0]} ends by itself, and on SIGTERM`, { timeout: 120_000 }, async () => {
      // The shell prints its pid, then becomes cdrex: that pid is the one to watch.
      const command = `echo pid=$$; exec ${process.execPath} ${CDREX_BIN} ${args.join(' ')}`;
      const script = spawn('script', ['-qfec', command, '/dev/null'], {
        env: await env(),
        stdio: ['pipe', 'pipe', 'ignore'],
        detached: true,
      });
      let out = '';
      script.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const cdrexProcess: { pid?: number } = {};
      killAtEnd(() => cdrexProcess.pid);
      killAtEnd(() => script.pid);
      await waitFor(async () => out.includes(ready), ready, 90_000);
      const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
      cdrexProcess.pid = pid;
      assert.ok(alive(pid), out);
      // script dies: the terminal's master side closes, the kernel hangs up the session.
      process.kill(script.pid!, 'SIGKILL');
      const byItself = await ended(pid);
      if (!byItself) process.kill(pid, 'SIGTERM');
      const onSigterm = byItself || (await ended(pid));
      assert.ok(onSigterm, `cdrex ${args[0]} outlived its terminal and ignored SIGTERM`);
      assert.ok(byItself, `cdrex ${args[0]} outlived its terminal (it ended only on SIGTERM)`);
    });
});
