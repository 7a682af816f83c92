// Promise (attack review: one tenant starves the others): an account's requests and uploads are
// capped, and uploads have a database pool of their own.
// - At most CDREX_REQUESTS_PER_ACCOUNT DIDWW and Kazoo requests of one account in flight at once,
//   counted from authentication until the response closes: beyond it 429 with Retry-After in the
//   dialect's format, while another account's requests (and anyone's sign-in) still answer.
// - At most CDREX_UPLOADS_PER_ACCOUNT Kazoo uploads of one account at once, taken before the body
//   is read and a database connection taken: beyond it 429, another account's upload is stored.
// - On the real `cdrex serve`, uploads held open by one account do not stop another account's
//   FreeSWITCH post or export; and uploads filling the ingest pool do not stop exports (the job
//   worker claims and exports on a pool of its own).
// Slow requests are made deterministic: uploads whose body is never finished (each holds its
// slots and its COPY connection until the client goes away), watched in pg_stat_activity.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { ROOT, spawnCdrex } from '../helpers/cli.js';
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

const db = await createTestDatabase();
// Two requests per account (uploads uncapped), and two uploads per account (requests uncapped).
const requestsCapped = await startServer(db, {
  worker: false,
  env: { CDREX_REQUESTS_PER_ACCOUNT: '2', CDREX_UPLOADS_PER_ACCOUNT: '100' },
});
const uploadsCapped = await startServer(db, {
  worker: false,
  env: { CDREX_REQUESTS_PER_ACCOUNT: '100', CDREX_UPLOADS_PER_ACCOUNT: '2' },
});
const greedy = await requestsCapped.newAccount('greedy');
const modest = await requestsCapped.newAccount('modest');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;

/** Active COPYs of uploads and switch posts into this database. */
async function uploadCopies(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and query ilike 'copy cdrs%'`,
  );
  return rows[0].n;
}

interface Held {
  req: http.ClientRequest;
  /** The status, once the server answers (a held upload never does until it is let go). */
  status: Promise<number>;
}

/** A Kazoo upload that sends half a record and then nothing more, on a connection of its own. */
function holdUpload(base: string, account: { account_id: string; api_key: string }): Held {
  const req = http.request(`${base}/v2/accounts/${account.account_id}/cdrs`, {
    method: 'PUT',
    agent: false,
    headers: { 'X-Auth-Token': account.api_key, 'Content-Type': 'application/x-ndjson' },
  });
  const status = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', () => resolve(0));
  });
  req.write(`{"call_id": "slow-${Math.random()}", `);
  return { req, status };
}

function record(callId: string) {
  return JSON.stringify({
    call_id: callId,
    timestamp: String(nowG - 3600),
    duration_seconds: '30',
    billing_seconds: '25',
    caller_id_number: '+14155550001',
    callee_id_number: '+442070000001',
    direction: 'inbound',
  });
}

function upload(base: string, account: { account_id: string; api_key: string }, callId: string) {
  return fetch(`${base}/v2/accounts/${account.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': account.api_key, 'Content-Type': 'application/x-ndjson' },
    body: `${record(callId)}\n`,
  });
}

const kazooList = (base: string, account: { account_id: string; api_key: string }) =>
  fetch(`${base}/v2/accounts/${account.account_id}/cdrs?page_size=5`, {
    headers: { 'X-Auth-Token': account.api_key },
  });
const didwwList = (base: string, account: { api_key: string }) =>
  fetch(`${base}/v3/exports`, {
    headers: { 'Api-Key': account.api_key, Accept: 'application/vnd.api+json' },
  });

async function stored(callId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    'select count(*)::int as n from cdrs where call_id = $1',
    [callId],
  );
  return rows[0].n;
}

async function letGo(held: Held[]) {
  for (const h of held) h.req.destroy();
  await waitFor(async () => (await uploadCopies()) === 0, 'the held uploads to give their connections back');
}

test("an account's third request in flight gets 429 in its dialect's format; another account's requests answer", async () => {
  const server = requestsCapped;
  const held = [holdUpload(server.base, greedy), holdUpload(server.base, greedy)];
  await waitFor(async () => (await uploadCopies()) === 2, 'both held uploads to be under way');

  const kazoo = await kazooList(server.base, greedy);
  assert.equal(kazoo.status, 429);
  assert.ok(Number(kazoo.headers.get('retry-after')) >= 1, 'Retry-After');
  const envelope = (await kazoo.json()) as { status: string; error: string; data: { message: string } };
  assert.equal(envelope.status, 'error');
  assert.equal(envelope.error, '429');
  assert.match(envelope.data.message, /at most 2 requests per account at once/);

  const didww = await didwwList(server.base, greedy);
  assert.equal(didww.status, 429);
  assert.ok(Number(didww.headers.get('retry-after')) >= 1, 'Retry-After');
  assert.match(didww.headers.get('content-type') ?? '', /application\/vnd\.api\+json/);
  const doc = (await didww.json()) as { errors: { status: string; title: string }[] };
  assert.equal(doc.errors[0].status, '429');

  // A file download holds no database connection and is not counted (404: no such file).
  const download = await fetch(`${server.base}/v3/exports/${crypto.randomUUID()}.csv.gz`, {
    headers: { 'Api-Key': greedy.api_key },
  });
  assert.equal(download.status, 404);

  // Another account is not affected, nor is signing in (public, not counted).
  assert.equal((await kazooList(server.base, modest)).status, 200);
  assert.equal((await didwwList(server.base, modest)).status, 200);
  const signIn = await fetch(`${server.base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { api_key: greedy.api_key } }),
  });
  assert.equal(signIn.status, 201);

  // A request that ends gives its slot back.
  held[0].req.destroy();
  await waitFor(async () => (await kazooList(server.base, greedy)).status === 200, 'a slot to come back');
  await letGo(held);
});

test("an account's third concurrent upload gets 429 before its body is read; another account's upload is stored", async () => {
  const server = uploadsCapped;
  const held = [holdUpload(server.base, greedy), holdUpload(server.base, greedy)];
  await waitFor(async () => (await uploadCopies()) === 2, 'both held uploads to be under way');

  const third = await upload(server.base, greedy, 'third-upload');
  assert.equal(third.status, 429);
  assert.ok(Number(third.headers.get('retry-after')) >= 1, 'Retry-After');
  const envelope = (await third.json()) as { status: string; data: { message: string } };
  assert.equal(envelope.status, 'error');
  assert.match(envelope.data.message, /at most 2 uploads per account at once/);
  assert.equal(await stored('third-upload'), 0);
  assert.equal(await uploadCopies(), 2, 'the refused upload took no connection');

  // Another account uploads; the busy one still queries.
  assert.equal((await upload(server.base, modest, 'modest-upload')).status, 201);
  assert.equal(await stored('modest-upload'), 1);
  assert.equal((await kazooList(server.base, greedy)).status, 200);

  await letGo(held);
  assert.equal((await upload(server.base, greedy, 'after-upload')).status, 201);
  assert.equal(await stored('after-upload'), 1);
});

test("on the real `cdrex serve`, held uploads do not stop another account's FreeSWITCH post or export", async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const others = await Promise.all(['c', 'd', 'e', 'f'].map((n) => requestsCapped.newAccount(n)));
  await requestsCapped.seed(modest.account_id, 'cdr_in', 20, 3);
  // The default limits (4 requests, 2 uploads per account), a pool of 10 for uploads.
  const server = spawnCdrex(
    ['serve'],
    testEnv(db, requestsCapped.config.dataDir, {
      CDREX_REQUESTS_PER_ACCOUNT: '4',
      CDREX_UPLOADS_PER_ACCOUNT: '2',
      PORT: String(port),
      CDREX_PUBLIC_URL: base,
      CDREX_DB_CONNECT_TIMEOUT_MS: '1000',
      CDREX_POLL_MS: '100',
    }),
  );
  await untilServing(server, base);

  // Ten slow uploads of one account: two are under way, the others are turned away at once.
  const held = Array.from({ length: 10 }, () => holdUpload(base, greedy));
  const answered: number[] = [];
  for (const h of held) void h.status.then((s) => answered.push(s));
  // Which eight are refused depends on arrival; that eight are, does not.
  await waitFor(async () => answered.length === 8, 'eight uploads to be answered');
  assert.deepEqual(answered, Array(8).fill(429));
  await waitFor(async () => (await uploadCopies()) === 2, 'two held uploads to be under way');

  // Another account's switch posts a CDR: stored, not 503.
  const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');
  const basic = `Basic ${Buffer.from(`${modest.account_id}:${modest.api_key}`).toString('base64')}`;
  const post = await fetch(`${base}/ingest/freeswitch`, {
    method: 'POST',
    headers: { Authorization: basic, 'Content-Type': 'application/json' },
    body: sample,
  });
  assert.equal(post.status, 200, await post.clone().text());

  // Four more accounts hold two uploads each: the ingest pool is full. Exports do not use it.
  held.push(...others.flatMap((account) => [holdUpload(base, account), holdUpload(base, account)]));
  await waitFor(async () => (await uploadCopies()) === 10, 'ten held uploads to hold the ingest pool');
  const url = await exportThisMonth(base, modest.api_key, 'the export to complete while uploads are held');
  assert.ok(url);
  await letGo(held);
});
