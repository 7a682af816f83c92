// Bounded ingestion: CDR times outside the ingestion window (CDREX_INGEST_FROM … now +
// CDREX_INGEST_AHEAD_S) are refused per record by the Kazoo upload (JSON, NDJSON, CSV) and the
// FreeSWITCH endpoint, and one HTTP load creates at most CDREX_NEW_MONTHS_PER_LOAD new month
// partitions. A refused load stores nothing and creates no partition.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { kazooDocToRecord } from '../../src/ingest/kazoo.js';
import { loadRecords } from '../../src/ingest/records.js';
import { ingestWindow, monthInWindow, NewMonthsLimitError } from '../../src/ingest/window.js';
import { partitionNames } from '../../src/store/partitions.js';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const { pool } = server.db;
const alice = await server.newAccount('alice');
const DAY = 86400;
const nowS = Math.floor(NOW.getTime() / 1000);
/** Gregorian seconds (Kazoo's `timestamp`) of a Unix time in seconds. */
const greg = (unixS: number) => unixS + GREGORIAN_OFFSET;
const unixOf = (iso: string) => Math.floor(Date.parse(iso) / 1000);

interface Envelope {
  data: { inserted: number; duplicates: number; rejected: { index: number; reason: string }[] } & {
    message?: string;
  };
  status: string;
  error?: string;
  message?: string;
}

async function upload(body: string, type: string, query = '') {
  const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs${query}`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': type },
    body,
  });
  return { status: res.status, json: (await res.json()) as Envelope };
}

function kazoo(callId: string, endUnixS: number, duration = 30) {
  return { call_id: callId, timestamp: greg(endUnixS), duration_seconds: duration, billing_seconds: 0 };
}

async function stored(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'select count(*)::int as n from cdrs where account_id = $1',
    [alice.account_id],
  );
  return rows[0].n;
}

const sortedPartitions = async () => [...(await partitionNames(pool))].sort();

describe('the ingestion window', () => {
  test('defaults to 2000-01-01 … now + 1 day; both ends are settings', () => {
    const defaults = loadConfig({});
    const window = ingestWindow(defaults, NOW);
    assert.equal(window.from.toISOString(), '2000-01-01T00:00:00.000Z');
    assert.equal(window.to.getTime(), NOW.getTime() + DAY * 1000);
    assert.equal(defaults.newMonthsPerLoad, 2);
    const set = loadConfig({
      CDREX_INGEST_FROM: '2020-06-01T00:00:00+02:00',
      CDREX_INGEST_AHEAD_S: '60',
      CDREX_NEW_MONTHS_PER_LOAD: '5',
    });
    assert.equal(ingestWindow(set, NOW).from.toISOString(), '2020-05-31T22:00:00.000Z');
    assert.equal(ingestWindow(set, NOW).to.getTime(), NOW.getTime() + 60_000);
    assert.equal(set.newMonthsPerLoad, 5);
    assert.throws(() => loadConfig({ CDREX_INGEST_FROM: 'yesterday' }), ConfigError);
    assert.throws(() => loadConfig({ CDREX_INGEST_FROM: '2000-01-01' }), ConfigError, 'no offset');
    // The partition bound: a month may get a partition only if some moment of it is in the window.
    assert.equal(monthInWindow(new Date('1999-12-31T23:59:59Z'), window), false);
    assert.equal(monthInWindow(new Date('2000-01-15T00:00:00Z'), window), true);
    assert.equal(monthInWindow(NOW, window), true);
    assert.equal(monthInWindow(new Date(NOW.getTime() + 62 * DAY * 1000), window), false);
  });
});

describe('Kazoo upload', () => {
  test('a 1970 record, one in 2099 and one in 5138: 400 naming each record and why; nothing stored', async () => {
    const before = await sortedPartitions();
    const records = [
      kazoo('ok-1', nowS - 3600),
      kazoo('old-1970', unixOf('1970-01-01T00:01:40Z')),
      kazoo('far-2099', unixOf('2099-06-01T00:00:00Z')),
      // Gregorian seconds of 5138-11-16 (what a µs value read as seconds turns into).
      { call_id: 'far-5138', timestamp: greg(99999999999), duration_seconds: 0 },
      // The end is recent, but the duration puts the start in 1986.
      kazoo('long-ago-start', nowS - 60, 40 * 365 * DAY),
    ];
    const res = await upload(JSON.stringify({ data: records }), 'application/json');
    assert.equal(res.status, 400);
    assert.equal(res.json.status, 'error');
    assert.equal(res.json.error, '400');
    assert.equal(res.json.message, 'invalid records; nothing was stored');
    const rejected = res.json.data.rejected;
    assert.deepEqual(
      rejected.map((r) => r.index),
      [1, 2, 3, 4],
    );
    assert.match(rejected[0].reason, /^time_start 1970-01-01T00:01:10Z is before 2000-01-01T00:00:00Z/);
    assert.match(rejected[0].reason, /CDREX_INGEST_FROM/);
    assert.match(rejected[1].reason, /^time_start 2099-05-31T23:59:30Z is after /);
    assert.match(rejected[1].reason, /CDREX_INGEST_AHEAD_S/);
    assert.match(rejected[2].reason, /timestamp/);
    assert.match(rejected[3].reason, /^time_start 198\d-.* is before 2000-01-01T00:00:00Z/);
    assert.equal(await stored(), 0);
    assert.deepEqual(await sortedPartitions(), before, 'no partition for 1970 or 2099');
  });

  test('NDJSON and CSV bodies: the same per-record reasons, nothing stored', async () => {
    const before = await sortedPartitions();
    const nd = [kazoo('nd-ok', nowS - 600), kazoo('nd-1970', unixOf('1970-03-01T00:00:00Z'))]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const ndRes = await upload(nd, 'application/x-ndjson');
    assert.equal(ndRes.status, 400);
    assert.equal(ndRes.json.data.rejected.length, 1);
    assert.equal(ndRes.json.data.rejected[0].index, 1);
    assert.match(ndRes.json.data.rejected[0].reason, /^time_start 1970-02-28T23:59:30Z is before/);

    const tomorrowPlus = nowS + 2 * DAY;
    const csv =
      'call_id,timestamp,duration_seconds,billing_seconds\n' +
      `csv-ok,${greg(nowS - 600)},10,5\n` +
      `csv-ahead,${greg(tomorrowPlus)},10,5\n`;
    const csvRes = await upload(csv, 'text/csv');
    assert.equal(csvRes.status, 400);
    assert.equal(csvRes.json.data.rejected[0].index, 1);
    assert.match(csvRes.json.data.rejected[0].reason, /^time_start .* is after /);
    assert.equal(await stored(), 0);
    assert.deepEqual(await sortedPartitions(), before);
  });

  test('partial=true stores the records inside the window and lists the others', async () => {
    const body = [kazoo('p-ok', nowS - 900), kazoo('p-1970', unixOf('1970-01-02T00:00:00Z'))]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const res = await upload(body, 'application/x-ndjson', '?partial=true');
    assert.equal(res.status, 201);
    assert.equal(res.json.data.inserted, 1);
    assert.equal(res.json.data.rejected[0].index, 1);
    assert.match(res.json.data.rejected[0].reason, /is before 2000-01-01T00:00:00Z/);
    await pool.query('delete from cdrs where account_id = $1', [alice.account_id]);
  });

  test('one load touching 3 new months is refused before any partition is made; 2 are allowed', async () => {
    const before = await sortedPartitions();
    const months = ['2010-01-15T12:00:00Z', '2010-02-15T12:00:00Z', '2010-03-15T12:00:00Z'];
    for (const name of ['cdrs_2010_01', 'cdrs_2010_02', 'cdrs_2010_03']) assert.ok(!before.includes(name));
    const three = months.map((m, i) => JSON.stringify(kazoo(`m-${i}`, unixOf(m)))).join('\n');
    const refused = await upload(three, 'application/x-ndjson');
    assert.equal(refused.status, 400);
    assert.equal(refused.json.status, 'error');
    assert.match(refused.json.data.message!, /3 new months \(2010-01, 2010-02, 2010-03\)/);
    assert.match(refused.json.data.message!, /at most 2 \(CDREX_NEW_MONTHS_PER_LOAD\)/);
    assert.deepEqual(await sortedPartitions(), before, 'no partition created');
    assert.equal(await stored(), 0);

    // The same as a JSON array: refused too.
    const array = months.map((m, i) => kazoo(`a-${i}`, unixOf(m)));
    assert.equal((await upload(JSON.stringify(array), 'application/json')).status, 400);
    assert.deepEqual(await sortedPartitions(), before);

    // Two new months (plus the current one, which exists) fit.
    const two = [...months.slice(0, 2), NOW.toISOString()]
      .map((m, i) => JSON.stringify(kazoo(`t-${i}`, unixOf(m) - 60)))
      .join('\n');
    const ok = await upload(two, 'application/x-ndjson');
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.equal(ok.json.data.inserted, 3);
    assert.deepEqual(await sortedPartitions(), [...before, 'cdrs_2010_01', 'cdrs_2010_02'].sort());
    // Now that they exist, a third month beside them is only one new month.
    const next = months.map((m, i) => JSON.stringify(kazoo(`n-${i}`, unixOf(m) - 120))).join('\n');
    assert.equal((await upload(next, 'application/x-ndjson')).status, 201);
    await pool.query('delete from cdrs where account_id = $1', [alice.account_id]);
  });

  test('records given as an array in memory obey the same limit', async () => {
    const before = await sortedPartitions();
    const docs = ['2011-04-10T00:00:00Z', '2011-05-10T00:00:00Z', '2011-06-10T00:00:00Z'].map((m, i) =>
      kazoo(`mem-${i}`, unixOf(m)),
    );
    const options = {
      accountId: alice.account_id,
      source: 'upload',
      imported: true,
      partial: false,
      window: ingestWindow(server.config, NOW),
      maxNewMonths: 2,
      dataDir: server.config.dataDir,
    };
    await assert.rejects(loadRecords(pool, docs, kazooDocToRecord, options), (err: unknown) => {
      assert.ok(err instanceof NewMonthsLimitError);
      assert.deepEqual(err.months, ['2011-04', '2011-05', '2011-06']);
      return true;
    });
    assert.deepEqual(await sortedPartitions(), before);
    assert.equal(await stored(), 0);
  });
});

describe('FreeSWITCH ingest', () => {
  const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');
  const auth = `Basic ${Buffer.from(`${alice.account_id}:${alice.api_key}`).toString('base64')}`;

  /** The sample with its uuid and *_uepoch variables set (µs since the Unix epoch). */
  function body(uuid: string, start: bigint, end = start + 6_000_000n): string {
    const doc = JSON.parse(sample) as { variables: Record<string, string> };
    doc.variables.uuid = uuid;
    doc.variables.start_uepoch = String(start);
    doc.variables.answer_uepoch = String(start + 2_000_000n);
    doc.variables.end_uepoch = String(end);
    return JSON.stringify(doc);
  }

  async function post(text: string) {
    const res = await fetch(`${server.base}/ingest/freeswitch`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: text,
    });
    return { status: res.status, json: (await res.json()) as { error?: string; inserted?: number } };
  }

  test('times in 1970 or 5138 get a 400 with the reason (the switch keeps the CDR in its error directory)', async () => {
    const before = await sortedPartitions();
    const at1970 = await post(body('fs-1970', 86_400_000_000n));
    assert.equal(at1970.status, 400);
    assert.match(at1970.json.error!, /^time_start 1970-01-02T00:00:00Z is before 2000-01-01T00:00:00Z/);

    // 17 digits of microseconds: 5138-11-16.
    const at5138 = await post(body('fs-5138', 99_999_999_999_999_999n));
    assert.equal(at5138.status, 400);
    assert.match(at5138.json.error!, /^time_start 5138-11-16T09:46:\S+ is after /);

    // A sane start with an end in 5138 is refused for its end.
    const start = BigInt(NOW.getTime() - 60_000) * 1000n;
    const endFar = await post(body('fs-end-5138', start, 99_999_999_999_999_999n));
    assert.equal(endFar.status, 400);
    assert.match(endFar.json.error!, /^time_end 5138-/);

    // Two days ahead of the clock: refused; an hour ahead (a switch clock running fast): stored.
    const ahead = await post(body('fs-ahead', BigInt(NOW.getTime() + 2 * DAY * 1000) * 1000n));
    assert.equal(ahead.status, 400);
    assert.match(ahead.json.error!, /is after .*CDREX_INGEST_AHEAD_S/);
    assert.equal(await stored(), 0);
    assert.deepEqual(await sortedPartitions(), before, 'no partition for 1970 or 5138');

    const fast = await post(body('fs-fast-clock', BigInt(NOW.getTime() + 3600 * 1000) * 1000n));
    assert.equal(fast.status, 200, JSON.stringify(fast.json));
    assert.equal(fast.json.inserted, 1);
    await pool.query('delete from cdrs where account_id = $1', [alice.account_id]);
  });
});
