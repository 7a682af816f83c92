// Promise (issue 12, findings 1 and 4): an export outlives what goes wrong under it.
// - Its COPY's backend terminated (pg_terminate_backend): the real `cdrex serve` stays up and the
//   export, given back to the queue without counting an attempt, completes with every row.
// - Its directory full (ENOSPC, on a small tmpfs this test mounts): the export stays `pending`
//   while it is retried with back-off, every log line names the export and its file, and it
//   completes once space returns.
// - A failed export is run again by `cdrex exports retry ID`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import { cdrex, spawnCdrex, summary, type SpawnedCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  freePort,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  untilServing,
  waitFor,
} from '../helpers/server.js';

// More than loopback's socket buffers hold, so that the COPY's backend is still sending while
// the export holds mid-COPY (CDREX_HOLD_AT, below) for the test to terminate it.
const ROWS = 100_000;
const db = await createTestDatabase();
const helper = await startServer(db, { worker: false });
const account = await helper.newAccount('recovery');
await helper.seed(account.account_id, 'cdr_in', ROWS, 12);
/** A small account for the small filesystem. */
const SMALL_ROWS = 5000;
const small = await helper.newAccount('recovery-small');
await helper.seed(small.account_id, 'cdr_in', SMALL_ROWS, 13);
const dbName = new URL(db.url).pathname.slice(1);

interface Child extends SpawnedCdrex {
  base: string;
}

/** The real `cdrex serve` (with its worker) or `cdrex worker`, logging JSON at info. */
async function startCdrex(command: 'serve' | 'worker', env: Record<string, string> = {}): Promise<Child> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnCdrex([command], {
    ...testEnv(db, helper.config.dataDir, { PORT: String(port), CDREX_PUBLIC_URL: base, ...env }),
  });
  return { ...child, base };
}

async function stop(child: Child): Promise<void> {
  if (child.proc.exitCode !== null) return;
  child.proc.kill('SIGTERM');
  await new Promise((r) => child.proc.once('exit', r));
}

const api = async (id: string, key = account.api_key) =>
  (
    (await (await fetch(`${helper.base}/v3/exports/${id}`, { headers: { 'Api-Key': key } })).json()) as {
      data: { attributes: { status: string; url: string | null } };
    }
  ).data.attributes;

/** Downloads the export's file through the in-test server (same data directory); its rows. */
async function exportedRows(url: string, key = account.api_key, exportDir?: string): Promise<string[]> {
  const local = url.replace(/^http:\/\/127\.0\.0\.1:\d+/, helper.base);
  if (exportDir) helper.config.exportDir = exportDir;
  const res = await fetch(local, { headers: { 'Api-Key': key } });
  assert.equal(res.status, 200);
  const lines = zlib
    .gunzipSync(Buffer.from(await res.arrayBuffer()))
    .toString('utf8')
    .split('\n');
  assert.equal(lines.pop(), '');
  return lines.slice(1);
}

const newExport = (key = account.api_key) =>
  helper.createExport(key, { export_type: 'cdr_in', filters: { year: THIS_YEAR, month: THIS_MONTH } });

test("pg_terminate_backend of the export's COPY: cdrex serve stays up, the export completes with every row", async () => {
  const serve = await startCdrex('serve', { CDREX_HOLD_AT: 'export:streaming' });
  await untilServing(serve, serve.base, 60_000);
  const id = await newExport();
  // The COPY's backend, in this test's database, as the request role exports read with.
  const pid = await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ pid: number }>(
        `select pid from pg_stat_activity
          where datname = $1 and usename = 'cdrex_app' and state = 'active' and query ilike 'copy (select%'`,
        [dbName],
      );
      return rows[0]?.pid;
    },
    "the export's COPY to be running",
    60_000,
  );
  const started = Date.now();
  const killed = await db.pool.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]);
  assert.equal(killed.rows[0].ok, true);

  const url = await waitFor(
    async () => {
      if (serve.proc.exitCode !== null) throw new Error(`cdrex serve exited (${serve.proc.exitCode})`);
      return (await api(id)).url;
    },
    'the export to complete',
    90_000,
  );
  console.log(`# export completed ${Date.now() - started} ms after its COPY's backend was terminated`);
  assert.equal(serve.proc.exitCode, null, 'cdrex serve is still running');
  assert.equal((await fetch(`${serve.base}/healthz`)).status, 200, 'and still answers');
  const rows = await exportedRows(url);
  assert.equal(rows.length, ROWS, 'every row');
  assert.equal(new Set(rows).size, ROWS, 'each row once');
  // The lost connection gave the job back; it was logged with the export's id.
  const lost = serve.logs.find((l) => l.msg === 'database connection lost; job given back');
  assert.ok(lost, 'the lost connection was logged');
  assert.equal(lost.export, id);
  const completed = serve.logs.find((l) => l.export === id && l.msg === 'export completed');
  assert.equal(completed?.attempt, 1, 'the lost connection did not count as an attempt');
  await stop(serve);
});

test('cdrex exports retry: a failed export goes back to pending and completes', async () => {
  // The small account: this is about the job's state, not about the size of its export.
  const id = await newExport(small.api_key);
  // Failed for good, as after a permanent error or the end of its retry period: its job dead.
  await db.pool.query(
    "update jobs set dead_at = now(), attempts = max_attempts, last_error = 'gave up' where payload->>'export_id' = $1",
    [id],
  );
  await db.pool.query("update exports set status = 'failed' where id = $1", [id]);
  assert.equal((await api(id, small.api_key)).status, 'Failed');

  const env = testEnv(db, helper.config.dataDir) as Record<string, string>;
  const result = await cdrex(['exports', 'retry', id], env);
  assert.equal(result.code, 0, result.stderr);
  const printed = summary(result);
  assert.equal(printed.export_id, id);
  assert.equal(printed.status, 'pending');
  assert.equal((await api(id, small.api_key)).status, 'Pending');

  // Retrying an export that did not fail is refused, and changes nothing.
  const again = await cdrex(['exports', 'retry', id], env);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /not failed/);

  const worker = await startCdrex('worker');
  const url = await waitFor(
    async () => (await api(id, small.api_key)).url,
    'the retried export to complete',
    90_000,
  );
  assert.equal((await exportedRows(url, small.api_key)).length, SMALL_ROWS);
  await stop(worker);
});

/** A 2 MiB tmpfs, filled to the last byte; undefined where mount is not permitted. */
async function fullFilesystem(): Promise<{ dir: string; free(): void } | undefined> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-enospc-'));
  const mounted = await new Promise<boolean>((resolve) => {
    const m = spawn('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { stdio: 'ignore' });
    m.on('error', () => resolve(false));
    m.on('exit', (code) => resolve(code === 0));
  });
  if (!mounted) {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  after(async () => {
    await new Promise((resolve) => spawn('umount', ['-l', dir], { stdio: 'ignore' }).on('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  for (const size of [64 * 1024, 1]) {
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(size, 1));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
  }
  fs.closeSync(fd);
  return { dir, free: () => fs.rmSync(filler) };
}

const NO_MOUNT = 'cannot mount a small tmpfs here (mount needs root); ENOSPC is not tested';

test('ENOSPC: the export stays pending while retried, then completes when space returns', async (t) => {
  const full = await fullFilesystem();
  if (!full) return t.skip(NO_MOUNT);
  const { dir } = full;

  const worker = await startCdrex('worker', { CDREX_EXPORT_DIR: dir, CDREX_EXPORT_BACKOFF_MAX_S: '1' });
  const id = await newExport(small.api_key);
  const failures = () =>
    worker.logs.filter(
      (l) => l.export === id && /^job failed/.test(String(l.msg)) && /ENOSPC/.test(JSON.stringify(l.err)),
    );
  // Old code gave up after 5 attempts (about 30 s): wait for more tries than that, or for it to fail.
  await waitFor(
    async () => failures().length >= 6 || (await api(id, small.api_key)).status === 'Failed',
    'six failed tries',
    60_000,
  );
  assert.equal((await api(id, small.api_key)).status, 'Pending', 'pending between tries, not failed');
  for (const line of worker.logs.filter((l) => l.job !== undefined && l.task === 'export')) {
    assert.equal(line.export, id, `export id in: ${JSON.stringify(line)}`);
    assert.ok(String(line.path).startsWith(dir + path.sep), `file path in: ${JSON.stringify(line)}`);
  }

  full.free();
  const freed = Date.now();
  const final = await waitFor(
    async () => {
      const a = await api(id, small.api_key);
      return a.status === 'Completed' || a.status === 'Failed' ? a : undefined;
    },
    'the export to finish once space returned',
    60_000,
  );
  console.log(`# export finished (${final.status}) ${Date.now() - freed} ms after space returned`);
  assert.equal(final.status, 'Completed');
  const rows = await exportedRows(final.url!, small.api_key, dir);
  assert.equal(rows.length, SMALL_ROWS, 'every row');
  await stop(worker);
});

test('ENOSPC past CDREX_EXPORT_RETRY_S: the export fails; cdrex exports retry completes it once space returns', async (t) => {
  const full = await fullFilesystem();
  if (!full) return t.skip(NO_MOUNT);
  const env = { CDREX_EXPORT_DIR: full.dir, CDREX_EXPORT_BACKOFF_MAX_S: '1', CDREX_EXPORT_RETRY_S: '3' };
  const worker = await startCdrex('worker', env);
  const id = await newExport(small.api_key);
  await waitFor(
    async () => (await api(id, small.api_key)).status === 'Failed',
    'the retry period to end',
    60_000,
  );
  const tries = worker.logs.filter((l) => l.export === id && /ENOSPC/.test(JSON.stringify(l.err))).length;
  assert.ok(tries >= 2, `retried before failing (${tries} tries)`);

  full.free();
  const result = await cdrex(
    ['exports', 'retry', id],
    testEnv(db, helper.config.dataDir, env) as Record<string, string>,
  );
  assert.equal(result.code, 0, result.stderr);
  assert.equal(summary(result).status, 'pending');
  const url = await waitFor(async () => (await api(id, small.api_key)).url, 'the retried export', 60_000);
  assert.equal((await exportedRows(url, small.api_key, full.dir)).length, SMALL_ROWS);
  await stop(worker);
});
