// GET /metrics after real traffic: every counter moves by what the traffic did (Kazoo list and CSV,
// a DIDWW export to completion with its callback and download, FreeSWITCH posts with a duplicate,
// a Kazoo upload with a rejected record), the store's gauges are there, no series names an
// account; the token protects it; `cdrex worker` serves it on CDREX_METRICS_PORT; /livez and
// /readyz answer as documented, and /metrics still answers when the store is down.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createPool } from '../../src/store/db.js';
import { ROOT, spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  callbackReceiver,
  freePort,
  NOW,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  waitFor,
} from '../helpers/server.js';

const TOKEN = 'scrape-token-0123456789';
const server = await startServer(await createTestDatabase(), { env: { CDREX_METRICS_TOKEN: TOKEN } });
const account = await server.newAccount('metrics');
const SEEDED = await server.seed(account.account_id, 'cdr_in', 300);

/** Series name + sorted labels → value, from Prometheus text. */
type Scrape = Map<string, number>;

function parseLabels(raw: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of raw.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]] = m[2];
  return labels;
}

function key(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `${name}{${pairs.join(',')}}`;
}

function parse(text: string): { series: Scrape; labelNames: Set<string> } {
  const series: Scrape = new Map();
  const labelNames = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels = parseLabels(m[2] ?? '');
    for (const l of Object.keys(labels)) labelNames.add(l);
    series.set(key(m[1], labels), Number(m[3]));
  }
  return { series, labelNames };
}

async function scrape(
  base = server.base,
): Promise<{ series: Scrape; labelNames: Set<string>; text: string }> {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { ...parse(text), text };
}

const value = (s: Scrape, name: string, labels: Record<string, string> = {}) => s.get(key(name, labels)) ?? 0;

const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');

function postFreeswitch(body: string) {
  return fetch(`${server.base}/ingest/freeswitch`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${account.account_id}:${account.api_key}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body,
  });
}

const kazoo = (pathAndQuery: string, init: RequestInit = {}) =>
  fetch(`${server.base}/v2/accounts/${account.account_id}${pathAndQuery}`, {
    ...init,
    headers: { 'X-Auth-Token': account.api_key, ...(init.headers as Record<string, string>) },
  });

describe('GET /metrics after real traffic', () => {
  test('each counter moved by what the traffic did; no series names an account', async () => {
    const before = await scrape();
    const cdrsRoute = '/v2/accounts/:account_id/cdrs';

    // Kazoo: a page of the list, then the month as a CSV stream.
    const list = await kazoo('/cdrs?page_size=5');
    assert.equal(list.status, 200);
    await list.arrayBuffer();
    const csv = await kazoo('/cdrs', { headers: { Accept: 'text/csv' } });
    assert.equal(csv.status, 200);
    await csv.text();

    // FreeSWITCH: the sample twice (the second a duplicate).
    for (const expected of [
      { inserted: 1, duplicates: 0 },
      { inserted: 0, duplicates: 1 },
    ]) {
      const res = await postFreeswitch(sample);
      const { inserted, duplicates } = (await res.json()) as Record<string, unknown>;
      assert.deepEqual({ inserted, duplicates }, expected);
    }
    // A Kazoo upload of one good and one rejected record (2099): 400, nothing stored.
    const nowS = Math.floor(NOW.getTime() / 1000);
    const upload = await kazoo('/cdrs', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        data: [
          { call_id: 'ok', timestamp: nowS - 60 + GREGORIAN_OFFSET, duration_seconds: 30 },
          { call_id: 'far', timestamp: Date.parse('2099-06-01T00:00:00Z') / 1000 + GREGORIAN_OFFSET },
        ],
      }),
    });
    assert.equal(upload.status, 400);
    await upload.arrayBuffer();

    // DIDWW: an export with a callback, to completion, and its file downloaded.
    const rx = await callbackReceiver();
    const id = await server.createExport(account.api_key, {
      export_type: 'cdr_in',
      filters: { year: THIS_YEAR, month: THIS_MONTH },
      callback_url: rx.url,
      callback_method: 'POST',
    });
    const fileUrl = await server.exportFileUrl(account.api_key, id);
    await waitFor(async () => rx.received.length === 1, 'the callback');
    const file = await fetch(fileUrl, { headers: { 'Api-Key': account.api_key } });
    assert.equal(file.status, 200);
    const bytes = Buffer.from(await file.arrayBuffer());
    const rows = (await import('node:zlib')).gunzipSync(bytes).toString().trim().split('\n').length - 1;
    assert.equal(rows, SEEDED, 'the export holds the seeded rows');

    // The worker counts the callback after the receiver answered: wait for it, then scrape.
    let now = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(now.series, name, labels) - value(before.series, name, labels);
    await waitFor(async () => {
      now = await scrape();
      return delta('cdrex_callback_attempts_total', { outcome: 'delivered' }) === 1;
    }, 'the callback to be counted');

    const http_ = (route: string, method: string, status: string) =>
      delta('cdrex_http_request_duration_seconds_count', { route, method, status });
    assert.equal(http_(cdrsRoute, 'GET', '200'), 2, 'list and CSV');
    assert.equal(http_(cdrsRoute, 'PUT', '400'), 1, 'the rejected upload');
    assert.equal(http_('/ingest/freeswitch', 'POST', '200'), 2);
    assert.equal(http_('/v3/exports', 'POST', '201'), 1);
    assert.equal(delta('cdrex_cdrs_ingested_total', { source: 'freeswitch' }), 1);
    assert.equal(delta('cdrex_cdrs_duplicate_total', { source: 'freeswitch' }), 1);
    assert.equal(delta('cdrex_cdrs_rejected_total', { source: 'upload' }), 1);
    assert.equal(delta('cdrex_cdrs_ingested_total', { source: 'upload' }), 0, 'nothing of the 400 stored');
    assert.equal(delta('cdrex_exports_finished_total', { outcome: 'completed' }), 1);
    assert.equal(delta('cdrex_exports_finished_total', { outcome: 'failed' }), 0);
    assert.equal(delta('cdrex_export_duration_seconds_count'), 1);
    assert.equal(delta('cdrex_export_rows_total'), rows);
    assert.equal(delta('cdrex_export_bytes_total'), bytes.length);
    assert.equal(delta('cdrex_stream_deliveries_total', { kind: 'kazoo_stream', outcome: 'completed' }), 1);
    assert.equal(delta('cdrex_stream_deliveries_total', { kind: 'didww_download', outcome: 'completed' }), 1);

    // Gauges read at scrape time.
    assert.equal(value(now.series, 'cdrex_store_up'), 1);
    assert.equal(value(now.series, 'cdrex_default_partition_rows'), 0);
    assert.equal(value(now.series, 'cdrex_exports', { status: 'pending' }), 0);
    assert.ok(now.series.has(key('cdrex_exports', { status: 'processing' })));
    for (const pool of ['app', 'stream', 'ingest']) {
      assert.ok(value(now.series, 'cdrex_db_pool_max', { pool }) > 0, pool);
      assert.ok(now.series.has(key('cdrex_db_pool_waiting', { pool })), pool);
    }
    assert.ok(value(now.series, 'process_resident_memory_bytes') > 0, 'process metrics');

    // Cardinality: no account label, and neither the account's id nor the export's anywhere.
    for (const label of now.labelNames) assert.doesNotMatch(label, /account/i);
    assert.equal(now.text.includes(account.account_id), false);
    assert.equal(now.text.includes(id), false);
  });

  test('the job queue: depth and age of the oldest runnable job, by task', async () => {
    // A due job no worker can take (no task by that name): it stays runnable and ages.
    await server.db.pool.query(
      "insert into jobs (task, payload, run_at) values ('metrics-probe', '{}', now() - interval '90 seconds')",
    );
    after(() => server.db.pool.query("delete from jobs where task = 'metrics-probe'"));
    const { series } = await scrape();
    assert.equal(value(series, 'cdrex_jobs_runnable', { task: 'metrics-probe' }), 1);
    assert.ok(value(series, 'cdrex_jobs_oldest_runnable_age_seconds', { task: 'metrics-probe' }) >= 90);
    assert.equal(value(series, 'cdrex_jobs_running', { task: 'metrics-probe' }), 0);
  });

  test('CDREX_METRICS_TOKEN: without it or with another, 401; with it, 200', async () => {
    const none = await fetch(`${server.base}/metrics`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}x` } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(await wrong.text(), /cdrex_/);
    const right = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(right.status, 200);
  });
});

describe('health', () => {
  test('/livez and /readyz answer 200 while the store is up and its schema current', async () => {
    const live = await fetch(`${server.base}/livez`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'live' });
    const ready = await fetch(`${server.base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
  });

  test('store unreachable: /readyz 503, /livez 200, /metrics 200 with cdrex_store_up 0', async () => {
    // The same app over a probe pool whose server is gone (nothing listens on the port).
    const gone = await freePort();
    const deadPool = createPool(`postgres://cdrex_worker@127.0.0.1:${gone}/none`, undefined, {
      connectTimeoutMs: 500,
    });
    after(() => deadPool.end());
    const app = await buildApp(
      { ...server.app.store, probePool: deadPool, scraper: undefined },
      pino({ level: 'silent' }),
    );
    after(() => app.close());
    const ready = await app.inject({ url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.deepEqual(ready.json(), { status: 'unready', reason: 'store unreachable' });
    assert.equal((await app.inject({ url: '/livez' })).statusCode, 200);
    const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(metrics.statusCode, 200);
    const { series } = parse(metrics.body);
    assert.equal(value(series, 'cdrex_store_up'), 0);
    assert.equal(series.has(key('cdrex_exports', { status: 'pending' })), false, 'no store gauge made up');
    assert.ok(series.has(key('cdrex_db_pool_max', { pool: 'app' })), 'what the process knows is there');
  });

  test('a store whose schema is not the one this cdrex knows: /readyz 503 naming both versions', async () => {
    const { rows } = await server.db.pool.query<{ version: number; name: string }>(
      'select version, name from schema_migrations order by version desc limit 1',
    );
    const newest = rows[0];
    await server.db.pool.query('delete from schema_migrations where version = $1', [newest.version]);
    try {
      const res = await fetch(`${server.base}/readyz`);
      assert.equal(res.status, 503);
      const previous = (
        await server.db.pool.query<{ v: number }>('select max(version) as v from schema_migrations')
      ).rows[0].v;
      assert.deepEqual(await res.json(), {
        status: 'unready',
        reason: `store schema version ${previous}; this cdrex needs ${newest.version}`,
      });
    } finally {
      await server.db.pool.query('insert into schema_migrations (version, name) values ($1, $2)', [
        newest.version,
        newest.name,
      ]);
    }
    assert.equal((await fetch(`${server.base}/readyz`)).status, 200);
  });
});

describe('cdrex serve', () => {
  test('answers /metrics on PORT and on CDREX_METRICS_PORT, with every pool it opens', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-metrics-serve-'));
    after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = { PORT: String(port), CDREX_METRICS_PORT: String(metricsPort), CDREX_METRICS_TOKEN: TOKEN };
    const { logs } = spawnCdrex(['serve', '--no-worker'], testEnv(server.db, dataDir, env));
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${base}/livez`).catch(() => undefined))?.ok,
      `cdrex serve (${JSON.stringify(logs.slice(-3))})`,
      120_000,
    );
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/livez`)).arrayBuffer();
    for (const at of [base, `http://127.0.0.1:${metricsPort}`]) {
      const { series } = await scrape(at);
      assert.equal(value(series, 'cdrex_store_up'), 1, at);
      assert.ok(
        value(series, 'cdrex_http_request_duration_seconds_count', {
          route: '/livez',
          method: 'GET',
          status: '200',
        }) >= 4,
        at,
      );
      for (const pool of ['app', 'stream', 'ingest', 'worker', 'export'])
        assert.ok(value(series, 'cdrex_db_pool_max', { pool }) > 0, `${at} ${pool}`);
    }
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status, 401);
  });
});

describe('cdrex worker', () => {
  test('serves /metrics on CDREX_METRICS_PORT, token-protected, with its pools and the job queue', async () => {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-metrics-worker-'));
    after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const { logs } = spawnCdrex(
      ['worker'],
      testEnv(server.db, dataDir, { CDREX_METRICS_PORT: String(port), CDREX_METRICS_TOKEN: TOKEN }),
    );
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${base}/livez`).catch(() => undefined))?.ok,
      `the worker's metrics listener (${JSON.stringify(logs.slice(-3))})`,
    );
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    const { series, labelNames } = await scrape(base);
    assert.equal(value(series, 'cdrex_store_up'), 1);
    assert.ok(series.has(key('cdrex_jobs_runnable', { task: 'export' })));
    assert.ok(series.has(key('cdrex_jobs_oldest_runnable_age_seconds', { task: 'callback' })));
    assert.ok(value(series, 'cdrex_db_pool_max', { pool: 'worker' }) > 0);
    assert.ok(series.has(key('process_cpu_user_seconds_total')));
    for (const label of labelNames) assert.doesNotMatch(label, /account/i);
    assert.ok(logs.some((l) => l.msg === 'metrics listening' && l.port === port));
  });
});
