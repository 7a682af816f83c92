// Promise (issue 12, abandoned uploads): an upload whose client goes away mid-body ends its COPY at
// once (rolled back, the connection released), leaves no spool file behind, and so cannot starve
// the workers' pool: twelve abandoned uploads (more than the pool holds) on the real `cdrex serve`,
// then no backend is idle in a transaction or still in COPY, no spool file remains, nothing was
// stored, and an export created afterwards completes. Also: spool directories of dead processes
// are swept when `cdrex serve` starts (only those), and /healthz reports each pool's use.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  exportThisMonth,
  freePort,
  NOW,
  startServer,
  testEnv,
  untilServing,
  waitFor,
} from '../helpers/server.js';

const UPLOADS = 12;
const db = await createTestDatabase();
const helper = await startServer(db, { worker: false });
const uploader = await helper.newAccount('uploader');
const other = await helper.newAccount('other');
await helper.seed(other.account_id, 'cdr_in', 500, 3);

const dataDir = helper.config.dataDir;
// Spool files used to go to the temp directory: point it inside the data dir, so a spool file
// left anywhere by the server is seen below.
const tmpDir = path.join(dataDir, 'tmp');
fs.mkdirSync(tmpDir, { recursive: true });
// tsx (which runs src/ when build/ is stale) keeps its compile cache there: share the usual one.
const tsxCache = `tsx-${process.getuid?.() ?? 0}`;
if (fs.existsSync(path.join(os.tmpdir(), tsxCache)))
  fs.symlinkSync(path.join(os.tmpdir(), tsxCache), path.join(tmpDir, tsxCache));
// A spool directory a dead process left behind, and one of a live process (this test's).
const deadPid = await new Promise<number>((resolve) => {
  const gone = spawn(process.execPath, ['-e', '0']);
  gone.on('exit', () => resolve(gone.pid!));
});
const deadSpool = path.join(dataDir, 'spool', String(deadPid));
const liveSpool = path.join(dataDir, 'spool', String(process.pid));
for (const dir of [deadSpool, liveSpool]) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'records.copy'), 'left behind\n');
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawnCdrex(
  ['serve'],
  testEnv(db, dataDir, {
    PORT: String(port),
    CDREX_PUBLIC_URL: base,
    // The default connect timeout (10 s), not a short one: on a loaded machine a new backend
    // (fork, SCRAM) can take seconds, and an upload that cannot connect answers 503 instead of
    // holding its COPY, which this test counts. The two beyond the pool wait their turn.
    CDREX_POLL_MS: '100',
    TMPDIR: tmpDir,
  }),
);
after(() => fs.rmSync(liveSpool, { recursive: true, force: true }));
await untilServing(child, base);

const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
function kazooCdr(upload: number, i: number) {
  return {
    call_id: `abandoned-${upload}-${i}`,
    timestamp: String(nowG - 600 - (i % 300)),
    duration_seconds: '30',
    billing_seconds: '25',
    caller_id_number: '+14155550100',
    callee_id_number: '+442070000100',
    direction: 'inbound',
  };
}

/** About `bytes` of a body in the given type, cut anywhere (the server never sees its end). */
function partialBody(type: string, upload: number, bytes: number): Buffer {
  const parts: string[] = [];
  let size = 0;
  if (type === 'text/csv') parts.push('call_id,timestamp,duration_seconds,billing_seconds,direction\n');
  if (type === 'application/json') parts.push('[');
  for (let i = 0; size < bytes; i++) {
    const c = kazooCdr(upload, i);
    const part =
      type === 'text/csv'
        ? `${c.call_id},${c.timestamp},30,25,inbound\n`
        : type === 'application/json'
          ? `${i ? ',' : ''}${JSON.stringify(c)}`
          : `${JSON.stringify(c)}\n`;
    parts.push(part);
    size += part.length;
  }
  return Buffer.from(parts.join(''));
}

const TYPES = ['application/x-ndjson', 'text/csv', 'application/json'];
// Half a megabyte each, of a body announced four times longer. (The server notices a client gone only
// once it has read what that client sent before: TCP gives no earlier sign while it reads slowly.)
const SENT_BYTES = 512 << 10;
/** What the server answered each upload before its client went away (nothing, if all is well). */
const answers: string[] = [];

/** Sends an upload's headers (announcing a body four times longer) and part of its body, and
 * keeps the socket open; the caller destroys it. */
function openUpload(upload: number): Promise<net.Socket> {
  const type = TYPES[upload % TYPES.length];
  const method = upload % 2 === 0 ? 'PUT' : 'POST';
  const body = partialBody(type, upload, SENT_BYTES);
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(
        `${method} /v2/accounts/${uploader.account_id}/cdrs HTTP/1.1\r\n` +
          `Host: 127.0.0.1:${port}\r\nX-Auth-Token: ${uploader.api_key}\r\n` +
          `Content-Type: ${type}\r\nContent-Length: ${body.length * 4}\r\n\r\n`,
      );
      socket.write(body, () => resolve(socket));
    });
    socket.on('error', reject);
    // An early answer must not stall the socket; it is kept for the diagnostics below.
    socket.on('data', (chunk: Buffer) => {
      answers[upload] = (answers[upload] ?? '') + chunk.toString('latin1');
    });
    after(() => socket.destroy());
  });
}

interface Backend {
  pid: number;
  state: string | null;
  query: string;
}

/** The server's backends on this database that hold a transaction open (for more than a moment:
 * a job's claim passes through that state) or a COPY. */
async function heldBackends(): Promise<Backend[]> {
  const { rows } = await db.pool.query<Backend>(
    `select pid, state, query from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
        and ((state like 'idle in transaction%' and state_change < now() - interval '3 seconds')
             or (state = 'active' and query ilike 'copy cdrs%'))`,
  );
  return rows;
}

/** Spool files under the data dir: in spool/, or where they used to go (`cdrex-load-*` in the temp
 * directory). Symbolic links are not followed. */
function spoolFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/^(spool\/|tmp\/cdrex-load-)/.test(path.relative(dataDir, full))) found.push(full);
    }
  };
  walk(dataDir);
  return found.filter((f) => !f.startsWith(liveSpool));
}

interface Health {
  status: string;
  pools: Record<string, { max: number; total: number; idle: number; waiting: number; exhausted: boolean }>;
}
async function healthz(): Promise<Health> {
  const res = await fetch(`${base}/healthz`);
  assert.equal(res.status, 200);
  return (await res.json()) as Health;
}

const cdrCount = async (accountId: string) =>
  Number((await db.pool.query('select count(*) from cdrs where account_id = $1', [accountId])).rows[0].count);

test('at start, cdrex serve sweeps the spool directories of dead processes only', () => {
  assert.equal(fs.existsSync(deadSpool), false, "the dead process's spool directory is gone");
  assert.equal(fs.existsSync(path.join(liveSpool, 'records.copy')), true, "a live process's is kept");
});

test('twelve uploads abandoned mid-body: no held backend, no spool file, nothing stored, an export still completes', async (t) => {
  const sockets: net.Socket[] = [];
  for (let u = 0; u < UPLOADS; u++) sockets.push(await openUpload(u));
  // The uploads are loading: the pool the workers share is full of their COPYs (ten of them).
  await waitFor(
    async () => (await heldBackends()).filter((b) => /^copy cdrs/i.test(b.query)).length >= 10,
    'the uploads to hold ten COPY connections',
  ).catch(async (err: Error) => {
    // Say what the server was doing instead: its backends, its pools, what it answered.
    const { rows } = await db.pool.query<Backend>(
      `select pid, state, left(query, 40) as query from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()`,
    );
    const early = answers.flatMap((a, u) =>
      a ? [`upload ${u}: ${a.split('\r\n')[0]} ${a.slice(-200)}`] : [],
    );
    throw new Error(
      `${err.message}\nbackends: ${JSON.stringify(rows)}\npools: ${JSON.stringify((await healthz()).pools)}` +
        `\nanswers: ${JSON.stringify(early)}\nits log:\n${child.tail()}`,
    );
  });
  // The exhaustion is visible in /healthz (still 200: it is load), and /readyz does not fail on it.
  const busy = await healthz();
  assert.equal(busy.status, 'degraded');
  assert.equal(busy.pools.worker.exhausted, true, JSON.stringify(busy.pools.worker));
  assert.equal(busy.pools.worker.idle, 0);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready' });

  for (const s of sockets) s.destroy();
  const abandonedAt = Date.now();

  // Each COPY is refused and rolled back at once; the connection is released (or destroyed).
  await waitFor(
    async () => (await heldBackends()).length === 0,
    'no backend idle in a transaction or in COPY',
    30_000,
  ).catch(async () => {
    const held = (await heldBackends()).map((b) => `${b.pid} ${b.state}: ${b.query.slice(0, 20)}`);
    assert.deepEqual(held, [], 'no backend is idle in a transaction or still in COPY');
  });
  t.diagnostic(`every COPY ended ${Date.now() - abandonedAt} ms after the clients went away`);
  await waitFor(async () => spoolFiles().length === 0, 'no spool file to remain', 20_000).catch(() => {
    assert.deepEqual(spoolFiles(), [], 'no spool file remains');
  });
  assert.equal(await cdrCount(uploader.account_id), 0, 'an abandoned upload stores nothing');

  // The pools are free again, and /healthz shows it.
  const health = await healthz();
  assert.equal(health.status, 'ok');
  for (const name of ['api', 'stream', 'worker']) {
    assert.ok(health.pools?.[name], `/healthz reports the ${name} pool`);
    assert.equal(health.pools[name].waiting, 0, `nobody waits for the ${name} pool`);
  }

  // Another tenant's export, created after them, completes.
  const url = await exportThisMonth(
    base,
    other.api_key,
    'the export to complete after the abandoned uploads',
  );
  assert.ok(url);
  t.diagnostic(`the export completed ${Date.now() - abandonedAt} ms after the clients went away`);

  // And a whole upload goes through the same pool afterwards.
  const body = [0, 1, 2].map((i) => JSON.stringify(kazooCdr(99, i))).join('\n');
  const done = await fetch(`${base}/v2/accounts/${uploader.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': uploader.api_key, 'Content-Type': 'application/x-ndjson' },
    body,
  });
  assert.equal(done.status, 201, await done.text());
  assert.equal(await cdrCount(uploader.account_id), 3);
  assert.deepEqual(spoolFiles(), [], 'a finished upload leaves no spool file');
});

test('spool files live in <data dir>/spool/<pid>/ and go however an upload ends', async () => {
  const put = (body: string, query = '') =>
    fetch(`${base}/v2/accounts/${uploader.account_id}/cdrs${query}`, {
      method: 'PUT',
      headers: { 'X-Auth-Token': uploader.api_key, 'Content-Type': 'application/x-ndjson' },
      body,
    });
  const lines = (upload: number, n: number) =>
    Array.from({ length: n }, (_, i) => JSON.stringify(kazooCdr(upload, i)));
  // The staging path (a duplicate inside the body): stored once.
  const dup = await put([...lines(200, 3), JSON.stringify(kazooCdr(200, 1))].join('\n'));
  assert.equal(dup.status, 201, await dup.clone().text());
  assert.deepEqual(((await dup.json()) as { data: { inserted: number } }).data.inserted, 3);
  // An invalid record: nothing stored.
  const invalid = await put([...lines(201, 3), '{"call_id":"no-time"}'].join('\n'));
  assert.equal(invalid.status, 400);
  // A value PostgreSQL refuses mid-COPY (a NUL byte): the load fails with an exception.
  const refused = await put(
    [...lines(202, 3), JSON.stringify({ ...kazooCdr(202, 9), caller_id_name: 'a\u0000b' })].join('\n'),
  );
  const refusedText = await refused.text();
  assert.equal(refused.status, 400, refusedText);
  assert.match(refusedText, /a value in the request is not valid/, 'PostgreSQL refused it');

  // Every upload spooled in the server's own directory, and no file is left in it.
  const own = path.join(dataDir, 'spool', String(child.proc.pid));
  assert.ok(fs.existsSync(own), `the server spools in ${own}`);
  assert.deepEqual(fs.readdirSync(own), []);
  assert.deepEqual(spoolFiles(), []);
});
