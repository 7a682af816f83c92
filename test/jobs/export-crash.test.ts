// A worker killed (SIGKILL) in the middle of an export leaves no visible file; when its lease
// expires another worker takes the job over and publishes a correct, complete file. The kills come
// from crash points (src/crash-points.ts), so the export only needs more than one COPY chunk of
// rows, not a size large enough to catch it mid-way from outside.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import { CDREX_BIN } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, testEnv, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';
import pino from 'pino';
import { sweepExportFiles } from '../../src/export/retention.js';

/** A CDR of an inbound file: its Call ID and Attempt (a retried call has two rows, one id). */
const cdrKey = (line: string) => {
  const cells = line.split(',');
  return `${cells.at(-1)}#${cells[8]}`;
};

const ROWS = 20_000;
const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const account = await server.newAccount('crash');
await server.seed(account.account_id, 'cdr_in', ROWS, 77);
const workerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-worker-'));
after(() => fs.rmSync(workerDir, { recursive: true, force: true }));
const exportDir = server.config.exportDir;
fs.mkdirSync(exportDir, { recursive: true });

function startWorker(env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [CDREX_BIN, 'worker'], {
    env: {
      ...process.env,
      ...testEnv(db, workerDir, {
        CDREX_LEASE_MS: '2000',
        CDREX_EXPORT_DIR: exportDir,
        LOG_LEVEL: 'warn',
        ...env,
      }),
    },
    stdio: 'ignore',
  });
  after(() => child.kill('SIGKILL'));
  return child;
}

const files = () => fs.readdirSync(exportDir);
/** An attempt's files: its temp file, without the side files of its time slices (`.slice-N`). */
const attemptFiles = (names: string[]) => names.filter((f) => !/\.slice-\d+$/.test(f));
const api = async (p: string) =>
  (await (await fetch(`${server.base}${p}`, { headers: { 'Api-Key': account.api_key } })).json()) as {
    data: { attributes: { status: string; url: string | null } };
  };

test('SIGKILL during the export: no visible file, then another worker finishes it', async () => {
  const before = new Set(files());
  const id = await server.createExport(account.api_key, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
  });

  // It kills itself once the COPY's rows are flowing into the temp file.
  const first = startWorker({ CDREX_CRASH_AT: 'export:streaming' });
  const signal = await new Promise<NodeJS.Signals | null>((r) => first.once('exit', (_c, s) => r(s)));
  assert.equal(signal, 'SIGKILL', 'the worker died mid-export');
  const partial = attemptFiles(files().filter((f) => !before.has(f)));
  assert.equal(partial.length, 1, `the killed attempt left its temp file: ${partial.join(', ')}`);
  assert.ok(partial[0].startsWith('.tmp-'), partial[0]);

  assert.equal((await api(`/v3/exports/${id}`)).data.attributes.status, 'Processing');
  assert.equal((await api(`/v3/exports/${id}`)).data.attributes.url, null);
  assert.deepEqual(
    files().filter((f) => !f.startsWith('.tmp-')),
    [],
    'no file was published',
  );

  const second = startWorker();
  const url = await waitFor(
    async () => (await api(`/v3/exports/${id}`)).data.attributes.url,
    'the takeover',
    90_000,
  );
  second.kill('SIGTERM');
  const download = await fetch(url, { headers: { 'Api-Key': account.api_key } });
  assert.equal(download.status, 200);
  const lines = zlib
    .gunzipSync(Buffer.from(await download.arrayBuffer()))
    .toString('utf8')
    .split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, ROWS + 1);
  assert.equal(new Set(lines.slice(1).map(cdrKey)).size, ROWS, 'each CDR exactly once');
  assert.deepEqual(
    files().filter((f) => f.startsWith('.tmp-')),
    [],
    'the partial file was cleaned up',
  );
  const job = await db.pool.query("select count(*)::int as n from jobs where task = 'export'");
  assert.equal(job.rows[0].n, 0);
});

test('SIGTERM during an export: the worker exits cleanly and the export completes exactly once', async () => {
  const id = await server.createExport(account.api_key, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
  });
  // The signal comes from outside: the export holds mid-COPY (src/crash-points.ts) for it.
  const worker = startWorker({ CDREX_HOLD_AT: 'export:streaming' });
  await waitFor(async () => files().some((f) => f.startsWith('.tmp-')), 'the export to be under way', 60_000);
  worker.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => worker.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'a clean exit');
  // It finished the export within its shutdown deadline, or gave the job back for the next one.
  const next = startWorker();
  const url = await server.exportFileUrl(account.api_key, id);
  next.kill('SIGTERM');
  const res = await fetch(url, { headers: { 'Api-Key': account.api_key } });
  const lines = zlib
    .gunzipSync(Buffer.from(await res.arrayBuffer()))
    .toString('utf8')
    .trim()
    .split('\n');
  assert.equal(lines.length, ROWS + 1);
  assert.deepEqual(
    files().filter((f) => f.startsWith('.tmp-')),
    [],
  );
  const { rows } = await db.pool.query('select count(*)::int as n from export_files where export_id = $1', [
    id,
  ]);
  assert.equal(rows[0].n, 1, 'published once');
});

async function downloadLines(url: string): Promise<string[]> {
  const res = await fetch(url, { headers: { 'Api-Key': account.api_key } });
  assert.equal(res.status, 200);
  return zlib
    .gunzipSync(Buffer.from(await res.arrayBuffer()))
    .toString('utf8')
    .trim()
    .split('\n');
}

const published = async () =>
  new Set(
    (await db.pool.query<{ file_name: string }>('select file_name from export_files')).rows.map(
      (r) => r.file_name,
    ),
  );

for (const [point, when] of [
  ['export:fsynced', 'after the fsync, before the rename'],
  ['export:renamed', 'after the rename, before the export is published'],
] as const) {
  test(`SIGKILL ${when}: the export completes exactly once and nothing is left behind`, async () => {
    const before = new Set(files());
    const id = await server.createExport(account.api_key, {
      export_type: 'cdr_in',
      filters: { year: THIS_YEAR, month: THIS_MONTH },
    });
    const doomed = startWorker({ CDREX_CRASH_AT: point });
    const signal = await new Promise<NodeJS.Signals | null>((r) => doomed.once('exit', (_c, s) => r(s)));
    assert.equal(signal, 'SIGKILL', `the worker died at ${point}`);
    assert.equal((await api(`/v3/exports/${id}`)).data.attributes.url, null, 'nothing was published');
    const left = attemptFiles(files().filter((f) => !before.has(f)));
    assert.equal(left.length, 1, `the killed attempt left one file: ${left.join(', ')}`);
    assert.equal(left[0].startsWith('.tmp-'), point === 'export:fsynced');

    const next = startWorker();
    const url = await server.exportFileUrl(account.api_key, id);
    next.kill('SIGTERM');
    const lines = await downloadLines(url);
    assert.equal(lines.length, ROWS + 1);
    assert.equal(new Set(lines.slice(1).map(cdrKey)).size, ROWS, 'each CDR exactly once');
    const { rows } = await db.pool.query('select count(*)::int as n from export_files where export_id = $1', [
      id,
    ]);
    assert.equal(rows[0].n, 1, 'published once');
    assert.deepEqual(
      files().filter((f) => f.startsWith('.tmp-')),
      [],
      'no temp file is left',
    );

    // A file renamed but never published is swept once it is older than the publishing grace.
    const later = new Date(Date.now() + 2 * 3600_000);
    await sweepExportFiles(db.pool, exportDir, 30, pino({ level: 'silent' }), later);
    const names = await published();
    assert.deepEqual(
      files().filter((f) => !names.has(f)),
      [],
      'every file left is a published one',
    );
  });
}
