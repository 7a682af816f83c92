// Promise (issue 11, fair sharing): one tenant cannot starve the others.
// - At most CDREX_STREAMS_PER_ACCOUNT long streams (Kazoo CSV, paginate=false) per account at
//   once; beyond it 429 in Kazoo's envelope with Retry-After; a slot comes back when its stream
//   ends, fails, or its client goes away.
// - A stream whose client stops reading is ended after CDREX_STREAM_IDLE_MS, and its database
//   connection goes away.
// - At most CDREX_PENDING_EXPORTS_PER_ACCOUNT unfinished exports per account, even under
//   concurrent creates; beyond it 422 in DIDWW's JSON:API format.
// - Long streams have a database pool of their own: slow readers holding every stream connection
//   of the real `cdrex serve` do not stop another tenant's export (its worker reads elsewhere).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { longStreams } from '../../src/api/long-streams.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  exportThisMonth,
  freePort,
  MONTH_START,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  type TestServer,
  untilServing,
  waitFor,
} from '../helpers/server.js';

// Enough CSV to fill the socket buffers of both ends many times over, so a client that reads
// nothing leaves the server waiting to write.
const ROWS = 60_000;
const db = await createTestDatabase();
const capped = await startServer(db, {
  worker: false,
  env: { CDREX_STREAMS_PER_ACCOUNT: '2', CDREX_PENDING_EXPORTS_PER_ACCOUNT: '5' },
});
const idle = await startServer(db, { worker: false, env: { CDREX_STREAM_IDLE_MS: '300' } });
const big = await capped.newAccount('big');
const small = await capped.newAccount('small');
await capped.seed(big.account_id, 'cdr_in', ROWS, 1);
await capped.seed(small.account_id, 'cdr_in', 20, 2);

const from = Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET;
const wholeMonth = `created_from=${from}&created_to=${from + 31 * 86400 - 1}`;
// A minute of CDRs: a stream that ends at once.
const oneMinute = `created_from=${from}&created_to=${from + 60}`;

function cdrsUrl(server: TestServer, accountId: string, query: string): string {
  return `${server.base}/v2/accounts/${accountId}/cdrs?${query}`;
}

interface Stalled {
  status: number;
  req: http.ClientRequest;
  res: http.IncomingMessage;
}

/** A client that asks for a stream, takes the response headers and then reads nothing. */
function openStalled(url: string, token: string): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'X-Auth-Token': token } }, (res) => {
      res.pause();
      resolve({ status: res.statusCode ?? 0, req, res });
    });
    req.on('error', reject);
    after(() => req.destroy());
  });
}

async function get(url: string, token: string) {
  const res = await fetch(url, { headers: { 'X-Auth-Token': token } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Backends of this database whose last statement was a CSV COPY (a long stream's connection). */
async function copyBackends(): Promise<number[]> {
  const { rows } = await db.pool.query<{ pid: number }>(
    `select pid from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and query ilike 'copy (%'`,
  );
  return rows.map((r) => r.pid);
}

test('at most two long streams per account: the third gets 429 in the Kazoo envelope with Retry-After', async () => {
  const csv = await openStalled(cdrsUrl(capped, big.account_id, `${wholeMonth}&accept=csv`), big.api_key);
  const all = await openStalled(cdrsUrl(capped, big.account_id, `${wholeMonth}&paginate=false`), big.api_key);
  assert.equal(csv.status, 200);
  assert.equal(all.status, 200);

  for (const query of [`${oneMinute}&accept=csv`, `${oneMinute}&paginate=false`]) {
    const refused = await get(cdrsUrl(capped, big.account_id, query), big.api_key);
    assert.equal(refused.status, 429, query);
    assert.equal(refused.headers.get('retry-after'), '5');
    const body = JSON.parse(refused.text) as Record<string, unknown>;
    assert.equal(body.status, 'error');
    assert.equal(body.error, '429');
    assert.equal(body.message, 'too_many_requests');
    assert.match((body.data as { message: string }).message, /at most 2 CSV or paginate=false streams/);
  }
  // Pages are not long streams, and another account has slots of its own.
  assert.equal(
    (await get(cdrsUrl(capped, big.account_id, `${oneMinute}&page_size=5`), big.api_key)).status,
    200,
  );
  const other = await get(cdrsUrl(capped, small.account_id, `${wholeMonth}&accept=csv`), small.api_key);
  assert.equal(other.status, 200);
  assert.equal(other.text.trim().split('\n').length, 21, 'header and 20 rows');

  // The client of one stream goes away: its slot comes back.
  csv.req.destroy();
  await waitFor(
    async () =>
      (await get(cdrsUrl(capped, big.account_id, `${oneMinute}&accept=csv`), big.api_key)).status === 200,
    'the aborted stream to give its slot back',
  );
  // Streams that end give theirs back: one slot is free, and three in a row all get it.
  for (let i = 0; i < 3; i++) {
    const res = await get(cdrsUrl(capped, big.account_id, `${oneMinute}&paginate=false`), big.api_key);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.text) as { status: string }).status, 'success');
  }
  assert.equal(
    (await get(cdrsUrl(capped, big.account_id, `${oneMinute}&accept=csv`), big.api_key)).status,
    200,
  );
  // Streams that fail give theirs back: an unknown filter fails after the slot was taken.
  for (let i = 0; i < 3; i++) {
    const res = await get(
      cdrsUrl(capped, big.account_id, `${oneMinute}&accept=csv&filter_nosuch=x`),
      big.api_key,
    );
    assert.equal(res.status, 400);
  }
  assert.equal(
    longStreams(capped.app.store, capped.config).openFor(big.account_id),
    1,
    'only the stalled one',
  );
  all.req.destroy();
  await waitFor(
    async () => longStreams(capped.app.store, capped.config).openFor(big.account_id) === 0,
    'no slot held',
  );
  await waitFor(async () => (await copyBackends()).length === 0, 'the stalled COPY connections to go away');
});

test('a stream whose client stops reading is ended after the write-idle timeout, and its connection goes away', async () => {
  await waitFor(async () => (await copyBackends()).length === 0, 'no COPY connection left from before');
  const stalled = await openStalled(cdrsUrl(idle, big.account_id, `${wholeMonth}&accept=csv`), big.api_key);
  assert.equal(stalled.status, 200);
  const [pid] = await waitFor(async () => {
    const pids = await copyBackends();
    return pids.length > 0 && pids;
  }, 'the stream to hold its COPY connection');

  // The client never reads; after CDREX_STREAM_IDLE_MS (300 ms here) of waiting to write, the
  // server ends the stream and the connection is discarded, not kept or pooled.
  await waitFor(async () => !(await copyBackends()).includes(pid), 'the COPY connection to go away', 20_000);
  assert.equal(longStreams(idle.app.store, idle.config).openFor(big.account_id), 0, 'its slot is free');

  // What the client gets once it reads again: a response cut short, never a complete one.
  stalled.res.resume();
  await new Promise<void>((resolve) => {
    stalled.res.on('close', resolve);
    stalled.res.on('error', () => resolve());
  });
  assert.equal(stalled.res.complete, false);
});

test('pending exports per account are capped, under concurrent creates: 422 in JSON:API beyond', async () => {
  const tenant = await capped.newAccount('queue');
  const filters = { year: THIS_YEAR, month: THIS_MONTH };
  const post = (key: string) =>
    fetch(`${capped.base}/v3/exports`, {
      method: 'POST',
      headers: { 'Api-Key': key, 'Content-Type': 'application/vnd.api+json' },
      body: JSON.stringify({ data: { type: 'exports', attributes: { export_type: 'cdr_in', filters } } }),
    });
  const answers = await Promise.all(Array.from({ length: 12 }, () => post(tenant.api_key)));
  const statuses = answers.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(5).fill(201), ...Array(7).fill(422)]);

  const refused = answers.find((r) => r.status === 422)!;
  assert.match(refused.headers.get('content-type') ?? '', /application\/vnd\.api\+json/);
  const doc = (await refused.json()) as {
    errors: { title: string; detail: string; code: string; status: string; source: { pointer: string } }[];
  };
  assert.equal(doc.errors.length, 1);
  assert.equal(doc.errors[0].status, '422');
  assert.equal(doc.errors[0].code, '100');
  assert.equal(doc.errors[0].source.pointer, '/data');
  assert.match(doc.errors[0].detail, /already has 5 exports pending or processing/);

  const { rows } = await db.pool.query<{ n: number }>(
    'select count(*)::int as n from exports where account_id = $1',
    [tenant.account_id],
  );
  assert.equal(rows[0].n, 5, 'no more than the cap was stored');

  // Another account is not affected; and a finished export frees a place.
  assert.equal((await post(small.api_key)).status, 201);
  await db.pool.query(
    `update exports set status = 'completed' where id = (select id from exports where account_id = $1 limit 1)`,
    [tenant.account_id],
  );
  assert.equal((await post(tenant.api_key)).status, 201);
  assert.equal((await post(tenant.api_key)).status, 422);
});

test("slow readers holding every stream connection of `cdrex serve` do not stop another tenant's export", async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnCdrex(
    ['serve'],
    testEnv(db, capped.config.dataDir, {
      PORT: String(port),
      CDREX_PUBLIC_URL: base,
      // Neither the per-account cap nor the idle timeout comes to the rescue here.
      CDREX_STREAMS_PER_ACCOUNT: '100',
      CDREX_STREAM_IDLE_MS: '600000',
      // Long enough that a loaded machine still opens all ten connections; the rest then get 503.
      CDREX_DB_CONNECT_TIMEOUT_MS: '5000',
      CDREX_POLL_MS: '100',
    }),
  );
  await untilServing(child, base);
  const served = { base } as TestServer;

  // Twelve streams that nobody reads: more than any pool of the server holds.
  const before = (await copyBackends()).length;
  const readers = await Promise.all(
    Array.from({ length: 12 }, () =>
      openStalled(cdrsUrl(served, big.account_id, `${wholeMonth}&accept=csv`), big.api_key),
    ),
  );
  assert.ok(
    readers.filter((r) => r.status === 200).length >= 10,
    `ten streams or more were served: ${readers.map((r) => r.status).join(',')}`,
  );
  await waitFor(
    async () => (await copyBackends()).length - before >= 10,
    'the stalled streams to hold ten connections or more',
  );

  // Another tenant asks for an export; the server's own worker runs it to completion.
  const url = await exportThisMonth(base, small.api_key, 'the export to complete while the streams stall');
  assert.ok(url);
  // API queries have their own pool too.
  assert.equal(
    (await get(cdrsUrl(served, small.account_id, `${wholeMonth}&page_size=5`), small.api_key)).status,
    200,
  );
  for (const r of readers) r.req.destroy();
});
