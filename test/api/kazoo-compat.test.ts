// Kazoo compatibility, part 2: ids that name exactly one CDR, legs by a CDR id (Kazoo's
// load_legs), the api_auth token in data, the reversed-range error as crossbar_view builds it,
// uploads that keep a given start and attempt, summary buckets in local time, CSV names from
// X-File-Name, and application/jsonl uploads.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GREGORIAN_OFFSET, parseKazooId } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { kazooClient } from '../helpers/http.js';
import { NOW, startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const HOUR = 3600;
const DAY = 86400;

type Doc = Record<string, unknown>;
interface Envelope {
  data: unknown;
  status: string;
  error?: string;
  message?: string;
  auth_token?: string;
}

const call = kazooClient<Envelope>(server.base);

/** An account of its own per test group, so counts are the group's. */
async function tenant() {
  const account = await server.newAccount('compat');
  const cdrs = `/v2/accounts/${account.account_id}/cdrs`;
  const get = (path: string, headers: Record<string, string> = {}) =>
    call('GET', `${cdrs}${path}`, { token: account.api_key, headers });
  const upload = async (records: Doc[], type = 'application/json') => {
    const body =
      type === 'application/json' ? { data: records } : records.map((r) => JSON.stringify(r)).join('\n');
    const res = await call('PUT', cdrs, { token: account.api_key, body, type });
    assert.equal(res.status, 201, res.text);
    return res.json.data as { inserted: number; duplicates: number };
  };
  /** Every row in the range, by call id. */
  const rows = async (query = '') => {
    const res = await get(`?paginate=false&created_from=${nowG - 20 * DAY}&created_to=${nowG}${query}`);
    assert.equal(res.status, 200, res.text);
    return res.json.data as Doc[];
  };
  return { account, cdrs, get, upload, rows };
}

const record = (callId: string, extra: Doc = {}): Doc => ({
  call_id: callId,
  timestamp: String(nowG - 2 * HOUR),
  duration_seconds: '30',
  billing_seconds: '20',
  direction: 'inbound',
  ...extra,
});

describe('a Kazoo id names exactly one CDR', () => {
  test('inbound and outbound CDRs of one call id and month get distinct ids, each its own row', async () => {
    const t = await tenant();
    await t.upload([
      record('shared', { direction: 'inbound', caller_id_name: 'the inbound leg' }),
      record('shared', { direction: 'outbound', caller_id_name: 'the outbound leg' }),
    ]);
    const listed = await t.rows('&filter_call_id=shared');
    assert.equal(listed.length, 2);
    const [a, b] = listed.map((r) => String(r.id));
    assert.notEqual(a, b);
    assert.equal(a.slice(0, 6), b.slice(0, 6), 'one month');
    for (const row of listed) {
      const detail = await t.get(`/${encodeURIComponent(String(row.id))}`);
      assert.equal(detail.status, 200, detail.text);
      const doc = detail.json.data as Doc;
      assert.equal(doc.id, row.id);
      assert.equal(doc.direction, row.direction);
      assert.equal(doc.caller_id_name, `the ${String(row.direction)} leg`);
    }
  });

  test('call id abc-2 attempt 1 and call id abc attempt 2 are distinct; attempt > 1 has a detail', async () => {
    const t = await tenant();
    await t.upload([
      record('abc-2', { caller_id_name: 'abc-2, first attempt' }),
      record('abc', { attempt: '2', caller_id_name: 'abc, second attempt' }),
      record('abc', { attempt: 1, caller_id_name: 'abc, first attempt' }),
    ]);
    const listed = await t.rows();
    assert.equal(listed.length, 3);
    assert.equal(new Set(listed.map((r) => r.id)).size, 3);
    const names = new Set<string>();
    for (const row of listed) {
      const detail = await t.get(`/${encodeURIComponent(String(row.id))}`);
      assert.equal(detail.status, 200, detail.text);
      const doc = detail.json.data as Doc;
      assert.equal(doc.call_id, row.call_id);
      names.add(String(doc.caller_id_name));
    }
    assert.deepEqual([...names].sort(), [
      'abc, first attempt',
      'abc, second attempt',
      'abc-2, first attempt',
    ]);
  });

  test('two CDRs of one kind, call id and attempt that differ only in start time', async () => {
    const t = await tenant();
    await t.upload([
      record('twice', { timestamp: String(nowG - 3 * HOUR), caller_id_name: 'earlier' }),
      record('twice', { timestamp: String(nowG - 2 * HOUR), caller_id_name: 'later' }),
    ]);
    const listed = await t.rows();
    assert.equal(new Set(listed.map((r) => r.id)).size, 2);
    for (const row of listed) {
      const doc = (await t.get(`/${encodeURIComponent(String(row.id))}`)).json.data as Doc;
      assert.equal(doc.caller_id_name, row.caller_id_name);
    }
  });

  test('a call id holding = and a microsecond start still name their row', async () => {
    const t = await tenant();
    const startUs = (BigInt(nowG - GREGORIAN_OFFSET - 2 * HOUR - 30) * 1000000n + 123456n).toString();
    await t.upload([record('odd=id=in1-01T000000', { channel_created_time: startUs })]);
    const [row] = await t.rows();
    const id = String(row.id);
    assert.match(id, /^\d{6}-odd=id=in1-01T000000=in1-\d{2}T\d{6}\.123456$/);
    assert.deepEqual(parseKazooId(id)?.callId, 'odd=id=in1-01T000000');
    const detail = await t.get(`/${encodeURIComponent(id)}`);
    assert.equal(detail.status, 200, detail.text);
    assert.equal((detail.json.data as Doc).call_id, 'odd=id=in1-01T000000');
  });

  test('ids are parsed strictly: anything else is a 404 bad_identifier', async () => {
    const t = await tenant();
    await t.upload([record('strict')]);
    const [row] = await t.rows();
    const id = String(row.id);
    const [, month, rest] = /^(\d{6})-strict=(.*)$/.exec(id)!;
    for (const bad of [
      `${month}-strict`, // the old scheme
      `${id}.000000`, // a zero fraction is never written
      `${id}.12`,
      id.replace('=in1-', '=in01-'),
      id.replace('=in1-', '=in0-'),
      id.replace('=in1-', '=out1-'), // well formed, names nothing
      `${month}-strict=${rest.replace(/-\d{2}T/, '-32T')}`,
      `${id.slice(0, 4)}13-strict=${rest}`,
    ]) {
      const res = await t.get(`/${encodeURIComponent(bad)}`);
      assert.equal(res.status, 404, bad);
      assert.equal(res.json.message, 'bad_identifier', bad);
    }
    assert.equal(parseKazooId('202602-x=in1-30T000000'), undefined, '30 February');
    assert.deepEqual(parseKazooId('202602-x=out7-28T235959.000001'), {
      kind: 'cdr_out',
      timeStart: '2026-02-28T23:59:59.000001Z',
      callId: 'x',
      attempt: 7,
    });
  });
});

describe('legs', () => {
  test('by interaction id, by a bare call id, and (as Kazoo) by the id of any of its CDRs', async () => {
    const t = await tenant();
    await t.upload([
      record('leg-a', { interaction_id: 'inter-1', direction: 'inbound' }),
      record('leg-b', {
        interaction_id: 'inter-1',
        direction: 'outbound',
        timestamp: String(nowG - 2 * HOUR + 5),
      }),
      record('solo'),
    ]);
    const callIds = (res: { status: number; json: Envelope; text: string }) => {
      assert.equal(res.status, 200, res.text);
      return (res.json.data as Doc[]).map((d) => d.call_id);
    };
    assert.deepEqual(callIds(await t.get('/legs/inter-1')), ['leg-a', 'leg-b']);
    assert.deepEqual(callIds(await t.get('/legs/solo')), ['solo']);
    const ids = new Map((await t.rows()).map((r) => [r.call_id, String(r.id)]));
    assert.deepEqual(callIds(await t.get(`/legs/${encodeURIComponent(ids.get('leg-b')!)}`)), [
      'leg-a',
      'leg-b',
    ]);
    assert.deepEqual(callIds(await t.get(`/legs/${encodeURIComponent(ids.get('solo')!)}`)), ['solo']);
    const nothing = await t.get(`/legs/${encodeURIComponent(ids.get('solo')!.replace('=in1-', '=in9-'))}`);
    assert.equal(nothing.status, 404);
    assert.equal(nothing.json.message, 'bad_identifier');
  });
});

describe('api_auth and ranges', () => {
  test('PUT api_auth puts the token in auth_token and in data.auth_token', async () => {
    const t = await tenant();
    const res = await call('PUT', '/v2/api_auth', { body: { data: { api_key: t.account.api_key } } });
    assert.equal(res.status, 201, res.text);
    const data = res.json.data as { auth_token: string; account_id: string };
    assert.ok(res.json.auth_token && res.json.auth_token.length > 20);
    assert.equal(data.auth_token, res.json.auth_token);
    assert.equal(data.account_id, t.account.account_id);
    assert.equal((await call('GET', t.cdrs, { token: data.auth_token })).status, 200);
  });

  test('created_to before created_from: under created_from, caused by created_from', async () => {
    const t = await tenant();
    const res = await t.get(`?created_from=${nowG}&created_to=${nowG - 10}`);
    assert.equal(res.status, 400);
    assert.equal(res.json.message, 'validation error');
    assert.deepEqual(res.json.data, {
      created_from: {
        date_range: { message: `created_to ${nowG - 10} is prior to created_from ${nowG}`, cause: nowG },
      },
    });
  });
});

describe('uploads keep what they are given', () => {
  test('channel_created_time is the start (every microsecond); without it, timestamp − duration', async () => {
    const t = await tenant();
    const end = nowG - 2 * HOUR;
    const startUnix = end - GREGORIAN_OFFSET - 95; // rang 65 s before a 30 s call
    await t.upload([
      record('given', { timestamp: String(end), channel_created_time: `${startUnix}000042` }),
      record('derived', { timestamp: String(end) }),
    ]);
    const { rows } = await server.db.pool.query<{ call_id: string; start: string; end: string }>(
      `select call_id, to_char(time_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as start,
              extract(epoch from time_end)::bigint::text as end
         from cdrs where account_id = $1 order by call_id`,
      [t.account.account_id],
    );
    const iso = (unix: number) => new Date(unix * 1000).toISOString().slice(0, 19);
    assert.deepEqual(rows, [
      {
        call_id: 'derived',
        start: `${iso(end - GREGORIAN_OFFSET - 30)}.000000`,
        end: String(end - GREGORIAN_OFFSET),
      },
      { call_id: 'given', start: `${iso(startUnix)}.000042`, end: String(end - GREGORIAN_OFFSET) },
    ]);
  });

  test('a given attempt is kept; a bad attempt or start is rejected with its reason', async () => {
    const t = await tenant();
    await t.upload([record('retried', { attempt: 3 })]);
    const [row] = await t.rows();
    assert.equal(parseKazooId(String(row.id))?.attempt, 3);
    const res = await call('PUT', t.cdrs, {
      token: t.account.api_key,
      body: {
        data: [
          record('r1', { attempt: 0 }),
          record('r2', { attempt: 'two' }),
          record('r3', { channel_created_time: 'yesterday' }),
          record('r4', { channel_created_time: String((nowG - GREGORIAN_OFFSET) * 1e6) }),
        ],
      },
    });
    assert.equal(res.status, 400, res.text);
    assert.deepEqual((res.json.data as { rejected: unknown[] }).rejected, [
      { index: 0, reason: 'attempt must be a whole number from 1' },
      { index: 1, reason: 'attempt must be a whole number from 1' },
      { index: 2, reason: 'channel_created_time must be Unix microseconds' },
      { index: 3, reason: 'channel_created_time is after timestamp' },
    ]);
  });

  test('application/jsonl uploads stream line by line, duplicates counted', async () => {
    const t = await tenant();
    const result = await t.upload([record('j1'), record('j2'), record('j1')], 'application/jsonl');
    assert.deepEqual(result, { inserted: 2, duplicates: 1, rejected: [] });
    assert.deepEqual((await t.rows()).map((r) => r.call_id).sort(), ['j1', 'j2']);
  });
});

describe('summary buckets and CSV names', () => {
  test('hour and day buckets start at local hours and midnights (utc_offset), given in UTC', async () => {
    const t = await tenant();
    // Yesterday's UTC midnight: every moment below is in the past, whatever the time now.
    const midnight = Math.floor(NOW.getTime() / 1000 / DAY) * DAY - DAY;
    const at = (unix: number) =>
      record(`s${unix}`, { timestamp: String(unix + GREGORIAN_OFFSET), duration_seconds: '0' });
    const times = [
      midnight + 2 * HOUR + 600,
      midnight + 2 * HOUR + 2400,
      midnight + 3 * HOUR + 600,
      midnight + 20 * HOUR,
    ];
    await t.upload(times.map(at));
    const range = `created_from=${midnight - DAY + GREGORIAN_OFFSET}&created_to=${midnight + DAY + GREGORIAN_OFFSET}`;
    const buckets = async (query: string) => {
      const res = await t.get(`/summary?${range}&${query}`);
      assert.equal(res.status, 200, res.text);
      const data = res.json.data as { calls: number; buckets: { start: string; calls: number }[] };
      assert.equal(data.calls, times.length);
      return data.buckets.map((b) => [b.start, b.calls]);
    };
    const iso = (unix: number) => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');
    assert.deepEqual(await buckets('bucket=hour'), [
      [iso(midnight + 2 * HOUR), 2],
      [iso(midnight + 3 * HOUR), 1],
      [iso(midnight + 20 * HOUR), 1],
    ]);
    // Half an hour east: local hours begin at :30 UTC.
    assert.deepEqual(await buckets('bucket=hour&utc_offset=1800'), [
      [iso(midnight + 1.5 * HOUR), 1],
      [iso(midnight + 2.5 * HOUR), 2],
      [iso(midnight + 19.5 * HOUR), 1],
    ]);
    assert.deepEqual(await buckets('bucket=day'), [[iso(midnight), 4]]);
    // Five hours west: local midnight is 05:00 UTC, so the early calls belong to the day before.
    assert.deepEqual(await buckets('bucket=day&utc_offset=-18000'), [
      [iso(midnight - DAY + 5 * HOUR), 3],
      [iso(midnight + 5 * HOUR), 1],
    ]);
    // Ten hours east: the 20:00 UTC call is the next local day.
    assert.deepEqual(await buckets('bucket=day&utc_offset=36000'), [
      [iso(midnight - 10 * HOUR), 3],
      [iso(midnight + DAY - 10 * HOUR), 1],
    ]);
  });

  test('X-File-Name names the CSV download; file_name wins over it', async () => {
    const t = await tenant();
    await t.upload([record('csv-name')]);
    const named = await t.get('', { Accept: 'text/csv', 'X-File-Name': 'march.csv' });
    assert.equal(named.status, 200);
    assert.equal(named.headers.get('content-disposition'), 'attachment; filename="march.csv"');
    assert.match(named.text, /csv-name/);
    const both = await t.get('?file_name=april.csv', { Accept: 'text/csv', 'X-File-Name': 'march.csv' });
    assert.equal(both.headers.get('content-disposition'), 'attachment; filename="april.csv"');
  });
});
