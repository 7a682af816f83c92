// Export callbacks: signed as the contract says, GET and POST, retried on the stored schedule.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import pino from 'pino';
import { signCallback } from '../../src/callbacks/signature.js';
import { TASKS } from '../../src/jobs/tasks.js';
import { Worker } from '../../src/jobs/worker.js';
import { rotateApiKey } from '../../src/store/queries/accounts.js';
import { createTestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEY, startServer, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';

interface Received {
  method: string;
  url: string;
  signature: string;
  contentType?: string;
  body: string;
}

/** A callback receiver on loopback answering with the scripted statuses, then 200. */
async function receiver(statuses: number[] = [], listenPort = 0) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({
        method: req.method!,
        url: req.url!,
        signature: String(req.headers['x-didww-signature']),
        contentType: req.headers['content-type'],
        body,
      });
      res.statusCode = statuses.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(listenPort, '127.0.0.1', () => r()));
  after(() => server.close());
  const { port } = server.address() as { port: number };
  return { received, url: (path: string) => `http://127.0.0.1:${port}${path}` };
}

const server = await startServer(await createTestDatabase());

/** A worker of the test's own (as after a restart), stopped when the test ends. */
function startWorker(): void {
  const worker = new Worker({
    pool: server.db.worker,
    appPool: server.db.app,
    url: server.db.roles.worker,
    config: server.config,
    log: pino({ level: 'silent' }),
    masterKey: TEST_MASTER_KEY,
    tasks: TASKS,
  });
  worker.start();
  after(() => worker.stop(1000));
}
const account = await server.newAccount('callbacks');
await server.seed(account.account_id, 'cdr_in', 200);

/** The callback job of an export, while it exists (it is removed once delivered). */
async function callbackJob(exportId: string) {
  const { rows } = await server.db.pool.query<{
    attempts: number;
    dead_at: Date | null;
    last_error: string | null;
  }>(
    "select attempts, dead_at, last_error from jobs where task = 'callback' and payload->>'export_id' = $1",
    [exportId],
  );
  return rows[0];
}

function createWithCallback(callbackUrl: string, method: string, key = account.api_key) {
  return server.createExport(key, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
    callback_url: callbackUrl,
    callback_method: method,
  });
}

test('GET callback: params appended to the query, signed over the URL as delivered', async () => {
  const rx = await receiver();
  const callbackUrl = rx.url('/didww/cb?opaque=123');
  const id = await createWithCallback(callbackUrl, 'GET');
  await waitFor(async () => rx.received.length === 1, 'the callback');
  const hit = rx.received[0];
  assert.equal(hit.method, 'GET');
  const url = new URL(hit.url, 'http://x');
  assert.equal(url.searchParams.get('opaque'), '123');
  assert.equal(url.searchParams.get('id'), id);
  assert.equal(url.searchParams.get('type'), 'exports');
  assert.equal(url.searchParams.get('status'), 'completed');
  const params = { id, type: 'exports', status: 'completed' };
  const delivered = rx.url(hit.url);
  assert.equal(hit.signature, signCallback(account.api_key, delivered, params));
});

test('POST callback: form body, signed over the callback URL and the params', async () => {
  const rx = await receiver();
  const callbackUrl = rx.url('/cb');
  const id = await createWithCallback(callbackUrl, 'POST');
  await waitFor(async () => rx.received.length === 1, 'the callback');
  const hit = rx.received[0];
  assert.equal(hit.method, 'POST');
  assert.equal(hit.contentType, 'application/x-www-form-urlencoded');
  assert.deepEqual(Object.fromEntries(new URLSearchParams(hit.body)), {
    id,
    type: 'exports',
    status: 'completed',
  });
  assert.equal(
    hit.signature,
    signCallback(account.api_key, callbackUrl, { id, type: 'exports', status: 'completed' }),
  );
  assert.notEqual(
    hit.signature,
    signCallback('another key', callbackUrl, { id, type: 'exports', status: 'completed' }),
  );
});

test('a failing receiver is retried until it answers 2xx; a rotated key signs later attempts', async () => {
  const rx = await receiver([500, 503]);
  const callbackUrl = rx.url('/flaky');
  const id = await createWithCallback(callbackUrl, 'POST');
  await waitFor(async () => rx.received.length >= 1, 'the first attempt');
  const masterKey = TEST_MASTER_KEY;
  const rotated = await rotateApiKey(server.db.pool, masterKey, account.account_id);
  await waitFor(async () => rx.received.length === 3, 'three attempts');
  const params = { id, type: 'exports', status: 'completed' };
  assert.equal(rx.received[0].signature, signCallback(account.api_key, callbackUrl, params));
  assert.equal(rx.received[2].signature, signCallback(rotated.api_key, callbackUrl, params));
  await waitFor(
    async () => (await server.db.pool.query("select 1 from jobs where task = 'callback'")).rowCount === 0,
    'the delivered callback job to be removed',
  );
  account.api_key = rotated.api_key;
});

test('attempts stop after the schedule (delays + 1), and the schedule survives a worker restart', async () => {
  const rx = await receiver(Array(50).fill(500));
  await server.worker!.stop(1000);
  const id = await createWithCallback(rx.url('/down'), 'GET');
  // The first worker is gone; the export and its callback are in the database, and a new worker
  // (as after a restart) takes them up.
  startWorker();
  const expected = server.config.callbackDelaysS.length + 1;
  const job = await waitFor(
    async () => {
      const row = await callbackJob(id);
      return row?.dead_at && row;
    },
    'the callback to be given up',
    60_000,
  );
  assert.equal(job.attempts, expected);
  assert.equal(rx.received.length, expected);
});

test('a receiver that does not answer in time, or refuses connections, is retried until it answers', async () => {
  startWorker(); // the test before stopped the server's own
  // First: no answer within CDREX_CALLBACK_TIMEOUT_MS (3 s here), then a 200.
  let hits = 0;
  const slow = http.createServer((_req, res) => {
    hits++;
    if (hits === 1) return; // never answers: the attempt times out
    res.end('ok');
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  after(() => slow.closeAllConnections?.());
  after(() => slow.close());
  const slowPort = (slow.address() as { port: number }).port;
  const slowId = await createWithCallback(`http://127.0.0.1:${slowPort}/slow`, 'POST');
  const timeoutError = await waitFor(
    async () => (await callbackJob(slowId))?.last_error,
    'the first attempt to time out',
  );
  assert.match(timeoutError, /abort|timeout/i);
  await waitFor(
    async () => hits >= 2 && !(await callbackJob(slowId)),
    'the second attempt to deliver',
    30_000,
  );

  // Then: nothing listens on the port at first; the receiver comes up between attempts.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const refusedId = await createWithCallback(`http://127.0.0.1:${port}/late`, 'POST');
  const firstError = await waitFor(
    async () => (await callbackJob(refusedId))?.last_error,
    'a refused attempt',
  );
  assert.match(firstError, /ECONNREFUSED|connect/i);
  const late = await receiver([], port);
  await waitFor(async () => late.received.length === 1, 'delivery once the receiver is up', 30_000);
});
