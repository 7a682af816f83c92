// Request ids: X-Request-Id is taken when it is printable ASCII of at most 128 characters, else one
// is made; the response echoes it; every log line of the request carries it (`reqId`), and an
// export created by the request carries it into the real `cdrex worker`'s lines about that export
// and its callback, so one grep follows an export from request to callback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { UUID } from '../helpers/http.js';
import {
  callbackReceiver,
  freePort,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  waitFor,
} from '../helpers/server.js';

const db = await createTestDatabase();
// In-process, without a worker: only for the account and its CDRs.
const helper = await startServer(db, { worker: false });
const account = await helper.newAccount('request-ids');
await helper.seed(account.account_id, 'cdr_in', 50);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-request-ids-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir, { PORT: String(port), CDREX_PUBLIC_URL: base });
const serve = spawnCdrex(['serve', '--no-worker'], env);
const worker = spawnCdrex(['worker'], env);
await waitFor(
  async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok,
  `cdrex serve to answer (${JSON.stringify(serve.logs.slice(-3))})`,
  120_000,
);

test('an acceptable X-Request-Id is echoed; a missing or unacceptable one is replaced by a new id', async () => {
  const given = 'lb-7f3a/2026-12-02 11:30:00.123 #42';
  const echoed = await fetch(`${base}/livez`, { headers: { 'X-Request-Id': given } });
  assert.equal(echoed.headers.get('x-request-id'), given);

  const none = await fetch(`${base}/livez`);
  assert.match(none.headers.get('x-request-id') ?? '', UUID);

  const tooLong = 'a'.repeat(129);
  const long = await fetch(`${base}/livez`, { headers: { 'X-Request-Id': tooLong } });
  assert.match(long.headers.get('x-request-id') ?? '', UUID);
  const longest = await fetch(`${base}/livez`, { headers: { 'X-Request-Id': 'b'.repeat(128) } });
  assert.equal(longest.headers.get('x-request-id'), 'b'.repeat(128));

  // Non-ASCII (fetch sends the UTF-8 bytes as Latin-1 characters): replaced.
  const accented = await new Promise<string | undefined>((resolve, reject) => {
    const req = http.get(`${base}/livez`, { headers: { 'X-Request-Id': 'caf\u00e9' } }, (res) => {
      res.resume();
      resolve(res.headers['x-request-id'] as string | undefined);
    });
    req.on('error', reject);
  });
  assert.match(accented ?? '', UUID);

  // Errors carry it too (a 401 of the DIDWW dialect).
  const denied = await fetch(`${base}/v3/exports`, { headers: { 'X-Request-Id': 'denied-1' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get('x-request-id'), 'denied-1');
});

test("an export's request id is on the request's serve lines and the worker's lines for the export and its callback", async () => {
  const { received, url: callbackUrl } = await callbackReceiver();

  const requestId = `support-case-4711-${Date.now()}`;
  const res = await fetch(`${base}/v3/exports`, {
    method: 'POST',
    headers: {
      'Api-Key': account.api_key,
      'Content-Type': 'application/vnd.api+json',
      'X-Request-Id': requestId,
    },
    body: JSON.stringify({
      data: {
        type: 'exports',
        attributes: {
          export_type: 'cdr_in',
          filters: { year: THIS_YEAR, month: THIS_MONTH },
          callback_url: callbackUrl,
          callback_method: 'POST',
        },
      },
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(res.headers.get('x-request-id'), requestId);
  const exportId = ((await res.json()) as { data: { id: string } }).data.id;

  await waitFor(async () => received.length === 1, 'the callback', 120_000);
  const delivered = () => worker.logs.find((l) => l.msg === 'callback delivered' && l.export === exportId);
  await waitFor(async () => delivered(), "the worker's 'callback delivered' line");

  // serve: the request's lines (Fastify's incoming/completed and any other) all carry the id.
  const serveLines = serve.logs.filter((l) => l.reqId === requestId);
  const messages = serveLines.map((l) => l.msg);
  assert.ok(messages.includes('incoming request'), JSON.stringify(messages));
  assert.ok(messages.includes('request completed'), JSON.stringify(messages));
  assert.ok(
    serveLines.some((l) => (l.req as { url?: string } | undefined)?.url === '/v3/exports'),
    'the incoming line names the route',
  );

  // worker: every line about the export's job and its callback's job carries the id.
  const about = worker.logs.filter(
    (l) => l.export === exportId && (l.task === 'export' || l.task === 'callback'),
  );
  const tasks = new Set(about.map((l) => l.task));
  assert.deepEqual([...tasks].sort(), ['callback', 'export'], JSON.stringify(about));
  for (const line of about) assert.equal(line.reqId, requestId, JSON.stringify(line));
  assert.ok(about.some((l) => l.msg === 'export completed'));
  assert.equal(delivered()!.reqId, requestId);
});
