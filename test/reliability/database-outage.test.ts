// Promise: when the database goes away, cdrex keeps answering (503 in each dialect's format,
// never a hang), /healthz says so, and when the database returns cdrex recovers by itself and the
// jobs that were waiting finish. A slow query ends in a timeout answer, not a held request.
// The real `cdrex serve` runs as a child process, connected through a TCP proxy the test cuts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CDREX_BIN } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort, startServer, testEnv, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const ROWS = 5000;
/** No request may take longer than this: a hang fails the test instead of stalling it. */
const ANSWER_BOUND_MS = 15_000;

const db = await createTestDatabase();
const helper = await startServer(db, { worker: false });
const account = await helper.newAccount('outage');
await helper.seed(account.account_id, 'cdr_in', ROWS, 5);
const proxy = await startTcpProxy(db.url);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child: ChildProcess = spawn(process.execPath, [CDREX_BIN, 'serve'], {
  env: {
    ...process.env,
    ...testEnv(db, helper.config.dataDir, {
      DATABASE_URL: proxy.url,
      PORT: String(port),
      CDREX_PUBLIC_URL: base,
      CDREX_DB_CONNECT_TIMEOUT_MS: '1000',
      CDREX_QUERY_TIMEOUT_MS: '1500',
      CDREX_POLL_MS: '200',
    }),
    LOG_LEVEL: 'error',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
after(async () => {
  child.kill('SIGKILL');
  await proxy.close();
});

const didwwHeaders = { 'Api-Key': account.api_key, Accept: 'application/vnd.api+json' };
const kazooHeaders = { 'X-Auth-Token': account.api_key };
const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(ANSWER_BOUND_MS) });
/** /healthz answers 200 (false while the server is not up or the store is down). */
const healthy = () =>
  get('/healthz').then(
    (r) => r.ok,
    () => false,
  );
const kazooList = () => get(`/v2/accounts/${account.account_id}/cdrs?page_size=5`, kazooHeaders);
const cdrCount = async () => Number((await db.pool.query('select count(*) from cdrs')).rows[0].count);

async function assertUnavailable() {
  const health = await get('/healthz');
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { status: 'unavailable', store: 'down' });

  const didww = await get('/v3/exports', didwwHeaders);
  assert.equal(didww.status, 503);
  assert.equal(didww.headers.get('content-type'), 'application/vnd.api+json');
  assert.ok(Number(didww.headers.get('retry-after')) > 0);
  const doc = (await didww.json()) as { errors: { status: string; title: string }[] };
  assert.deepEqual(
    doc.errors.map((e) => [e.status, e.title]),
    [['503', 'Service Unavailable']],
  );

  const kazoo = await kazooList();
  assert.equal(kazoo.status, 503);
  const envelope = (await kazoo.json()) as { status: string; error: string; data: { message: string } };
  assert.equal(envelope.status, 'error');
  assert.equal(envelope.error, '503');
  assert.ok(envelope.data.message);
}

describe('database outage', () => {
  test('before the outage everything answers', async () => {
    await waitFor(healthy, 'cdrex serve to start');
    assert.equal((await get('/v3/exports', didwwHeaders)).status, 200);
    assert.equal((await kazooList()).status, 200);
  });

  test('the database dies: 503 in both dialects at once, /healthz says so, nothing hangs', async () => {
    proxy.cut();
    await assertUnavailable();
    // Again, so the answer does not depend on connections the pool had before.
    await assertUnavailable();
  });

  test('the network to it goes silent: 503 after the connect timeout, not a hang', async () => {
    proxy.silence();
    await assertUnavailable();
  });

  test('the database returns: cdrex recovers by itself and the waiting export completes', async () => {
    const before = await cdrCount();
    // Created while cdrex is cut off (through the in-process helper, which is not behind the proxy).
    const id = await helper.createExport(account.api_key, {
      export_type: 'cdr_in',
      filters: { year: THIS_YEAR, month: THIS_MONTH },
    });
    proxy.restore();
    await waitFor(healthy, '/healthz to recover');
    assert.equal((await kazooList()).status, 200);

    const url = await waitFor(async () => {
      const res = await get(`/v3/exports/${id}`, didwwHeaders);
      if (res.status !== 200) return undefined;
      const body = (await res.json()) as { data: { attributes: { url: string | null } } };
      return body.data.attributes.url;
    }, 'the export queued during the outage to complete');
    const file = await fetch(url, { headers: { 'Api-Key': account.api_key } });
    assert.equal(file.status, 200);
    const lines = gunzipSync(Buffer.from(await file.arrayBuffer()))
      .toString()
      .trim()
      .split('\n');
    assert.equal(lines.length, ROWS + 1, 'every CDR is in the file');
    assert.equal(await cdrCount(), before, 'no CDR was lost');
  });

  test('a long upload stream is not a stuck query: it outlives the statement timeout', async () => {
    const lines = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        call_id: `slow-${i}`,
        timestamp: Math.floor(Date.now() / 1000) + 62167219200 - i * 60,
      }),
    );
    // 40 lines over about 4 s: longer than the 1.5 s statement timeout plus the 2 s grace.
    const body = new ReadableStream({
      async pull(controller) {
        const line = lines.shift();
        if (line === undefined) return controller.close();
        await new Promise((r) => setTimeout(r, 100));
        controller.enqueue(new TextEncoder().encode(`${line}\n`));
      },
    });
    const res = await fetch(`${base}/v2/accounts/${account.account_id}/cdrs`, {
      method: 'PUT',
      headers: { ...kazooHeaders, 'Content-Type': 'application/x-ndjson' },
      body,
      duplex: 'half',
      signal: AbortSignal.timeout(ANSWER_BOUND_MS),
    } as RequestInit);
    assert.equal(res.status, 201, await res.clone().text());
    assert.deepEqual(((await res.json()) as { data: unknown }).data, {
      inserted: 40,
      duplicates: 0,
      rejected: [],
    });
  });

  test('a query stuck behind a lock ends in a timeout answer, then service resumes', async () => {
    const locker = await db.pool.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table api_keys, accounts in access exclusive mode');
      const didww = await get('/v3/exports', didwwHeaders);
      assert.equal(didww.status, 503);
      const kazoo = await kazooList();
      assert.equal(kazoo.status, 504);
      assert.equal(((await kazoo.json()) as { error: string }).error, '504');
    } finally {
      await locker.query('rollback');
      locker.release();
    }
    assert.equal((await get('/v3/exports', didwwHeaders)).status, 200);
    assert.equal((await kazooList()).status, 200);
  });
});
