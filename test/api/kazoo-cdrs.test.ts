// The Kazoo CDR API (seed 003) over HTTP: auth, envelope, range rules, keyset paging, filters,
// CSV, detail, summary, interactions, legs, users, and uploads tagged `imported`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { kazooClient } from '../helpers/http.js';
import { NOW, startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const DAY = 86400;

interface Envelope {
  data: unknown;
  status: string;
  error?: string;
  message?: string;
  page_size?: number;
  start_key?: string;
  next_start_key?: string;
  auth_token?: string;
  request_id?: string;
}

const call = kazooClient<Envelope>(server.base, alice.api_key);

const cdrs = (account = alice.account_id) => `/v2/accounts/${account}/cdrs`;

function cdr(i: number, extra: Record<string, unknown> = {}) {
  return {
    call_id: `call-${i}`,
    timestamp: String(nowG - 3600 - i * 60),
    duration_seconds: '30',
    billing_seconds: i % 3 === 0 ? '0' : '25',
    caller_id_number: `+1415555${String(i).padStart(4, '0')}`,
    callee_id_number: `+4420700${String(i).padStart(4, '0')}`,
    caller_id_name: `Caller ${i}`,
    hangup_cause: i % 3 === 0 ? 'USER_BUSY' : 'NORMAL_CLEARING',
    direction: i % 2 === 0 ? 'inbound' : 'outbound',
    owner_id: i % 5 === 0 ? 'owner-five' : undefined,
    from_uri: `${i}@pbx.example.com`,
    to_uri: `dest${i}@pbx.example.com`,
    sip_network_ip: `198.51.100.${i % 250}`,
    remote_sdp: `v=0\r\nc=IN IP4 203.0.113.${i % 250}\r\nm=audio 4000 RTP/AVP 0\r\n`,
    custom_channel_vars: {
      account_id: alice.account_id,
      tenant_id: i % 2 ? 'odd' : 'even',
      resource_id: `trunk-${i % 3}`,
    },
    interaction_id: `inter-${Math.floor(i / 2)}`,
    x_switch_field: `kept-${i}`,
    ...extra,
  };
}

async function upload(records: unknown[], query = '', account = alice) {
  const res = await call('PUT', `${cdrs(account.account_id)}${query}`, {
    token: account.api_key,
    body: { data: records },
  });
  return res;
}

async function walk(query: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let key: string | undefined;
  let pages = 0;
  for (;;) {
    const res = await call('GET', `${cdrs()}?${query}${key ? `&start_key=${encodeURIComponent(key)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    ids.push(...(res.json.data as { id: string }[]).map((d) => d.id));
    pages++;
    key = res.json.next_start_key;
    if (!key) return { ids, pages };
  }
}

const base = await upload(Array.from({ length: 120 }, (_, i) => cdr(i)));
assert.equal(base.status, 201, base.text);

describe('auth', () => {
  test('api_auth exchanges a key for a token; tokens work as header, query and bearer', async () => {
    const res = await call('PUT', '/v2/api_auth', {
      token: null,
      body: { data: { api_key: alice.api_key } },
    });
    assert.equal(res.status, 201);
    const token = res.json.auth_token!;
    assert.ok(token.length > 20);
    assert.equal((res.json.data as { account_id: string }).account_id, alice.account_id);
    assert.equal((await call('GET', cdrs(), { token })).status, 200);
    assert.equal((await call('GET', `${cdrs()}?auth_token=${token}`, { token: null })).status, 200);
    assert.equal(
      (await call('GET', cdrs(), { token: null, headers: { Authorization: `Bearer ${token}` } })).status,
      200,
    );
    assert.equal((await call('GET', cdrs().replace('/v2/', '/v1/'), { token })).status, 200);
  });

  test('bad keys, bad tokens and other accounts get 401 invalid_credentials, never data', async () => {
    const bad = await call('PUT', '/v2/api_auth', { token: null, body: { data: { api_key: 'nope' } } });
    assert.equal(bad.status, 401);
    for (const [path, token] of [
      [cdrs(), 'not-a-token'],
      [cdrs(), null],
      [cdrs(bob.account_id), alice.api_key],
      [`${cdrs(bob.account_id)}/summary`, alice.api_key],
      [`/v2/accounts/${'0'.repeat(32)}/cdrs`, alice.api_key],
    ] as const) {
      const res = await call('GET', path, { token });
      assert.equal(res.status, 401, path);
      assert.equal(res.json.error, '401');
      assert.equal(res.json.message, 'invalid_credentials');
      assert.deepEqual(res.json.data, { message: 'invalid credentials' });
      assert.equal(res.json.status, 'error');
    }
  });
});

describe('list', () => {
  test('the envelope and the Kazoo list fields', async () => {
    const res = await call('GET', `${cdrs()}?page_size=5`);
    assert.equal(res.status, 200);
    // As every other Kazoo answer says it (a page's bytes are written by hand, not serialised).
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    for (const k of ['auth_token', 'request_id', 'revision', 'status', 'timestamp', 'version', 'node'])
      assert.ok(k in res.json, k);
    assert.equal(res.json.page_size, 5);
    const row = (res.json.data as Record<string, unknown>[])[0];
    // YYYYMM-<call_id>=<in|out><attempt>-<DD>T<HHMMSS> (docs/decisions.md, "Kazoo ids").
    assert.match(String(row.id), /^\d{6}-call-\d+=(in|out)1-\d{2}T\d{6}$/);
    assert.equal(row.imported, true);
    // Strings, as cb_cdrs's col_timestamp and col_unix_timestamp print them (kz_term:to_binary).
    assert.equal(typeof row.timestamp, 'string');
    assert.equal(Number(row.unix_timestamp), Number(row.timestamp) - GREGORIAN_OFFSET);
    for (const k of [
      'call_id',
      'caller_id_number',
      'callee_id_number',
      'duration_seconds',
      'billing_seconds',
      'direction',
      'datetime',
      'rfc_1036',
      'iso_8601_combined',
      'to',
      'from',
    ]) {
      assert.ok(k in row, k);
    }
  });

  test('range rules: prior, too long, page_size, bad start_key, unknown filter: 400s', async () => {
    const prior = await call('GET', `${cdrs()}?created_from=${nowG}&created_to=${nowG - 10}`);
    assert.equal(prior.status, 400);
    // As crossbar_view:time_range/5 builds it: under created_from, which is also the cause.
    assert.deepEqual(prior.json.data, {
      created_from: {
        date_range: { message: `created_to ${nowG - 10} is prior to created_from ${nowG}`, cause: nowG },
      },
    });
    const long = await call('GET', `${cdrs()}?created_from=${nowG - 2682001}&created_to=${nowG}`);
    assert.equal(long.status, 400);
    assert.equal(
      (long.json.data as { created_from: { date_range: { message: string } } }).created_from.date_range
        .message,
      `created_to ${nowG} is more than 2682000 seconds from created_from ${nowG - 2682001}`,
    );
    for (const q of [
      'page_size=0',
      'page_size=-3',
      'start_key=garbage',
      'filter_no_such_field=1',
      'has_key=nonsense',
      'filter_duration_seconds=abc',
      'created_from=yesterday',
    ]) {
      const res = await call('GET', `${cdrs()}?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.json.status, 'error');
    }
    const zero = await call('GET', `${cdrs()}?page_size=0`);
    assert.equal(
      (zero.json.data as { page_size: { minimum: { message: string } } }).page_size.minimum.message,
      'page size must be at least 1',
    );
  });

  test('paging returns each CDR exactly once, newest first; ascending is the same set reversed', async () => {
    const desc = await walk('page_size=7');
    assert.equal(desc.ids.length, 120);
    assert.equal(new Set(desc.ids).size, 120);
    assert.equal(desc.pages, Math.ceil(120 / 7));
    assert.match(desc.ids[0], /^\d{6}-call-0=/, 'newest first');
    const asc = await walk('page_size=9&ascending=true');
    assert.deepEqual(asc.ids, [...desc.ids].reverse());
  });

  test('equal timestamps, a month boundary, and rows arriving between pages', async () => {
    const month =
      new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth(), 1)).getTime() / 1000 + GREGORIAN_OFFSET;
    const around = Array.from({ length: 30 }, (_, i) =>
      cdr(1000 + i, {
        timestamp: String(month + 15 - (i % 10) * 3 + (i < 10 ? 0 : 0)),
        duration_seconds: '10',
        owner_id: 'boundary',
      }),
    );
    assert.equal((await upload(around)).status, 201);
    const q = `filter_owner_id=boundary&created_from=${month - DAY}&created_to=${month + DAY}&page_size=4`;
    const first = await call('GET', `${cdrs()}?${q}`);
    // A newer CDR arrives after the first page was read: it must not shift or repeat anything.
    await upload([cdr(2000, { timestamp: String(month + 100), owner_id: 'boundary' })]);
    const seen = (first.json.data as { id: string }[]).map((d) => d.id);
    let key = first.json.next_start_key;
    while (key) {
      const res = await call('GET', `${cdrs()}?${q}&start_key=${encodeURIComponent(key)}`);
      seen.push(...(res.json.data as { id: string }[]).map((d) => d.id));
      key = res.json.next_start_key;
    }
    assert.equal(seen.length, 30);
    assert.equal(new Set(seen).size, 30);
    const months = new Set(seen.map((id) => id.slice(0, 6)));
    assert.equal(months.size, 2, 'the walk crossed the month boundary');
  });

  test('an empty range has no rows and no next key; the last page has no next key', async () => {
    const empty = await call(
      'GET',
      `${cdrs()}?created_from=${nowG - 40 * DAY}&created_to=${nowG - 39 * DAY}`,
    );
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json.data, []);
    assert.equal(empty.json.next_start_key, undefined);
    const all = await call('GET', `${cdrs()}?page_size=1000`);
    assert.equal(all.json.next_start_key, undefined);
  });

  test('paginate=false returns every row in one streamed answer', async () => {
    const res = await call('GET', `${cdrs()}?paginate=false&filter_owner_id=owner-five`);
    assert.equal(res.status, 200);
    assert.equal((res.json.data as unknown[]).length, 24);
    assert.equal(res.json.status, 'success');
  });
});

describe('filters', () => {
  const count = async (q: string) => {
    const res = await call('GET', `${cdrs()}?paginate=false&${q}`);
    assert.equal(res.status, 200, `${q}: ${res.text}`);
    return (res.json.data as unknown[]).length;
  };
  const ids = async (q: string) =>
    ((await call('GET', `${cdrs()}?paginate=false&${q}`)).json.data as { call_id: string }[])
      .map((d) => d.call_id)
      .sort();

  test('equality, any-of, not, prefix', async () => {
    assert.deepEqual(await ids('filter_caller_id_number=%2B14155550007'), ['call-7']);
    assert.deepEqual(await ids(`filter_call_id=${encodeURIComponent('["call-1","call-2"]')}`), [
      'call-1',
      'call-2',
    ]);
    assert.equal(await count('filter_caller_id_number=%2B1415555001*'), 10);
    assert.equal(await count('filter_callee_id_number=%2B4420700001*'), 10);
    assert.equal(await count('filter_hangup_cause=USER_BUSY&filter_owner_id=owner-five'), 8);
    assert.equal(await count('filter_not_hangup_cause=USER_BUSY&filter_owner_id=owner-five'), 16);
    assert.equal(await count('filter_direction=outbound&filter_owner_id=owner-five'), 12);
    // status is Failed when nothing was billed (every third call here).
    assert.equal(await count('filter_status=Failed&filter_owner_id=owner-five'), 8);
    assert.equal(await count('filter_status=Success&filter_owner_id=owner-five'), 16);
    // The trunk is the switch's resource_id.
    assert.equal(await count('filter_trunk_name=trunk-0&filter_owner_id=owner-five'), 8);
  });

  test('customer, IP, SIP and RTP address, nested custom_channel_vars', async () => {
    assert.deepEqual(await ids('filter_sip_network_ip=198.51.100.42'), ['call-42']);
    assert.deepEqual(await ids('filter_remote_media_ip=203.0.113.43'), ['call-43']);
    assert.deepEqual(await ids('filter_to_uri=dest44@pbx.example.com'), ['call-44']);
    assert.deepEqual(await ids('filter_from_uri=45@pbx.example.com'), ['call-45']);
    assert.equal(await count('filter_custom_channel_vars.tenant_id=odd&filter_owner_id=owner-five'), 12);
    assert.equal(
      await count(`filter_custom_channel_vars.account_id=${alice.account_id}&filter_owner_id=owner-five`),
      24,
    );
  });

  test('has_key, key_missing, has_value, value_missing', async () => {
    const total = await count('');
    const withOwner = await count('has_key=owner_id');
    assert.ok(withOwner > 0 && withOwner < total);
    assert.equal(withOwner + (await count('key_missing=owner_id')), total);
    assert.equal(
      await count('has_value=custom_channel_vars.tenant_id'),
      await count('has_key=custom_channel_vars.tenant_id'),
    );
    assert.equal(
      await count('value_missing=caller_id_name'),
      total - (await count('has_value=caller_id_name')),
    );
  });
});

describe('detail, CSV, summary, interactions, users', () => {
  test("a CDR with every field it was sent with; 404 for unknown ids and other accounts' CDRs", async () => {
    const list = await call('GET', `${cdrs()}?filter_call_id=call-8`);
    const id = (list.json.data as { id: string }[])[0].id;
    const res = await call('GET', `${cdrs()}/${id}`);
    assert.equal(res.status, 200);
    const doc = res.json.data as Record<string, unknown>;
    assert.equal(doc.id, id);
    assert.equal(doc.x_switch_field, 'kept-8');
    assert.equal(doc.remote_sdp, cdr(8).remote_sdp);
    assert.equal(doc.sip_network_ip, '198.51.100.8');
    assert.equal(doc.remote_media_ip, '203.0.113.8');
    assert.equal(doc.duration_seconds, '30', 'returned as it came');
    assert.deepEqual(doc.custom_channel_vars, cdr(8).custom_channel_vars);
    for (const [path, token] of [
      [`${cdrs()}/${id.slice(0, 7)}no-such-call`, alice.api_key],
      [`${cdrs()}/garbage`, alice.api_key],
      [`${cdrs(bob.account_id)}/${id}`, bob.api_key],
    ] as const) {
      const r = await call('GET', path, { token });
      assert.equal(r.status, 404, path);
      assert.equal(r.json.message, 'bad_identifier');
    }
  });

  test('detail of a DIDWW CDR carries its SIP reason, who hung up and its trunk id', async () => {
    const carol = await server.newAccount('carol');
    await server.seed(carol.account_id, 'cdr_out', 20, 5);
    const stored = await server.db.pool.query<{
      call_id: string;
      disconnect_reason: string;
      voice_out_trunk_id: string | null;
      time_start: Date;
    }>(
      `select call_id, disconnect_reason, voice_out_trunk_id, time_start from cdrs
        where account_id = $1 and disconnect_reason is not null order by time_start limit 1`,
      [carol.account_id],
    );
    const row = stored.rows[0];
    const fromG = Math.floor(row.time_start.getTime() / 1000) + GREGORIAN_OFFSET;
    const list = await call(
      'GET',
      `${cdrs(carol.account_id)}?created_from=${fromG}&created_to=${fromG}&filter_call_id=${encodeURIComponent(row.call_id)}`,
      { token: carol.api_key },
    );
    const id = (list.json.data as { id: string }[])[0].id;
    const doc = (await call('GET', `${cdrs(carol.account_id)}/${id}`, { token: carol.api_key })).json
      .data as Record<string, unknown>;
    assert.equal(doc.disconnect_reason, row.disconnect_reason);
    assert.equal(doc.voice_out_trunk_id, row.voice_out_trunk_id ?? undefined);
    // Outbound DIDWW files have no initiator column: absent from the detail, as any empty field.
    assert.equal('disconnect_initiator' in doc, false);
  });

  test('CSV by Accept: the list columns for the whole range, streamed, named', async () => {
    for (const accept of ['text/csv', 'application/octet-stream', 'text/comma-separated-values']) {
      const res = await call('GET', `${cdrs()}?filter_owner_id=owner-five&page_size=2`, {
        headers: { Accept: accept },
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/csv/);
      assert.equal(res.headers.get('content-disposition'), 'attachment; filename="cdrs.csv"');
      const lines = res.text.trim().split('\n');
      assert.ok(lines[0].startsWith('id,call_id,caller_id_number,caller_id_name,callee_id_number'));
      assert.ok(lines[0].endsWith(',interaction_id,imported'));
      assert.equal(lines.length, 25, 'page_size is ignored for CSV');
      assert.ok(
        lines.slice(1).every((l) => l.endsWith(',true')),
        'imported shows in CSV',
      );
    }
    const named = await call('GET', `${cdrs()}?file_name=nov.csv`, { headers: { Accept: 'text/csv' } });
    assert.equal(named.headers.get('content-disposition'), 'attachment; filename="nov.csv"');
    // A plain link (the portal's "Download CSV") asks with ?accept=csv and a query token.
    const linked = await call(
      'GET',
      `${cdrs()}?filter_owner_id=owner-five&accept=csv&auth_token=${encodeURIComponent(alice.api_key)}`,
      { token: null, headers: { Accept: 'text/html' } },
    );
    assert.equal(linked.status, 200);
    assert.match(linked.headers.get('content-type')!, /^text\/csv/);
    assert.equal(linked.text.trim().split('\n').length, 25);
  });

  test('summary with hour buckets', async () => {
    // An account of its own, so every expected figure below follows from these 30 records alone:
    // one in three unanswered (billing 0), five minutes apart from an hour ago back.
    const carol = await server.newAccount('carol');
    const times = Array.from({ length: 30 }, (_, i) => nowG - 3600 - i * 300);
    const records = times.map((timestamp, i) =>
      cdr(i, {
        call_id: `summary-${i}`,
        timestamp: String(timestamp),
        custom_channel_vars: { account_id: carol.account_id },
      }),
    );
    assert.equal((await upload(records, '', carol)).status, 201);
    const from = nowG - 4 * 3600;
    const res = await call(
      'GET',
      `${cdrs(carol.account_id)}/summary?created_from=${from}&created_to=${nowG}&bucket=hour`,
      {
        token: carol.api_key,
      },
    );
    assert.equal(res.status, 200, res.text);
    const data = res.json.data as {
      calls: number;
      answered: number;
      asr: number;
      duration_seconds: number;
      billing_seconds: number;
      buckets: { start: string; calls: number; answered: number }[];
    };
    assert.deepEqual(
      [data.calls, data.answered, data.asr, data.duration_seconds, data.billing_seconds],
      [30, 20, 0.6667, 30 * 30, 20 * 25],
    );
    // The hours the records fall in, counted here from their timestamps.
    const perHour = new Map<string, { calls: number; answered: number }>();
    times.forEach((timestamp, i) => {
      // A Kazoo record's `timestamp` is its end; the call starts duration_seconds (30) before it,
      // and the start is what buckets (and ranges) go by.
      const unix = timestamp - 30 - GREGORIAN_OFFSET;
      const start = new Date(Math.floor(unix / 3600) * 3600_000).toISOString().replace('.000Z', 'Z');
      const hour = perHour.get(start) ?? { calls: 0, answered: 0 };
      hour.calls++;
      if (i % 3 !== 0) hour.answered++;
      perHour.set(start, hour);
    });
    assert.ok(perHour.size >= 3);
    assert.deepEqual(
      data.buckets
        .map((b) => ({ start: b.start, calls: b.calls, answered: b.answered }))
        .sort((a, b) => a.start.localeCompare(b.start)),
      [...perHour]
        .map(([start, hour]) => ({ start, ...hour }))
        .sort((a, b) => a.start.localeCompare(b.start)),
    );
  });

  test("interactions group legs; legs lists them; users/{id}/cdrs is the owner's", async () => {
    const res = await call('GET', `${cdrs()}/interaction?filter_owner_id=owner-five&page_size=100`);
    assert.equal(res.status, 200, res.text);
    const rows = res.json.data as { interaction_id: string; legs: number }[];
    assert.ok(rows.length > 0);
    const legs = await call('GET', `${cdrs()}/legs/inter-10`);
    assert.equal(legs.status, 200);
    assert.deepEqual((legs.json.data as { call_id: string }[]).map((d) => d.call_id).sort(), [
      'call-20',
      'call-21',
    ]);
    assert.equal((await call('GET', `${cdrs()}/legs/inter-none`)).status, 404);
    const owned = await call('GET', `/v2/accounts/${alice.account_id}/users/owner-five/cdrs?paginate=false`);
    assert.equal((owned.json.data as unknown[]).length, 24);
  });
});

describe('upload', () => {
  test('JSON object, NDJSON and CSV bodies; duplicates counted; 415 for other types', async () => {
    const one = await call('POST', cdrs(), { body: cdr(5000) });
    assert.equal(one.status, 201);
    assert.deepEqual(one.json.data, { inserted: 1, duplicates: 0, rejected: [] });
    const again = await call('PUT', cdrs(), { body: cdr(5000) });
    assert.deepEqual(again.json.data, { inserted: 0, duplicates: 1, rejected: [] });
    const nd = [cdr(5001), cdr(5002), cdr(5000)].map((r) => JSON.stringify(r)).join('\n');
    const ndRes = await call('PUT', cdrs(), { body: nd, type: 'application/x-ndjson' });
    assert.deepEqual(ndRes.json.data, { inserted: 2, duplicates: 1, rejected: [] });
    const csv = `call_id,timestamp,duration_seconds,billing_seconds,caller_id_number,direction\ncsv-1,${nowG - 500},12,10,+15550001,inbound\ncsv-2,${nowG - 400},0,0,+15550002,outbound\n`;
    const csvRes = await call('PUT', cdrs(), { body: csv, type: 'text/csv' });
    assert.equal(csvRes.status, 201, csvRes.text);
    assert.deepEqual(csvRes.json.data, { inserted: 2, duplicates: 0, rejected: [] });
    const other = await call('PUT', cdrs(), { body: 'hello', type: 'text/plain' });
    assert.equal(other.status, 415);
    assert.equal(other.json.status, 'error');
  });

  test('a streamed upload into a month without its partition yet, with a duplicate inside it', async () => {
    // Streams are COPYed straight into cdrs; a month with no partition, or a duplicate, sends the
    // whole body through the staging path instead. Either way: stored once, in its own month.
    const longAgo = nowG - 800 * DAY;
    const rows = [0, 1, 2, 1].map((i) => cdr(7000 + i, { timestamp: String(longAgo + i * 60) }));
    const body = rows.map((r) => JSON.stringify(r)).join('\n');
    const res = await call('PUT', cdrs(), { body, type: 'application/x-ndjson' });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.json.data, { inserted: 3, duplicates: 1, rejected: [] });
    const health = (await (await fetch(`${server.base}/healthz`)).json()) as {
      default_partition_rows: number;
    };
    assert.equal(health.default_partition_rows, 0, 'nothing landed in the DEFAULT partition');
    const listed = await call('GET', `${cdrs()}?created_from=${longAgo - 3600}&created_to=${longAgo + 3600}`);
    assert.equal((listed.json.data as unknown[]).length, 3);
  });

  test('any invalid record stores nothing, unless partial=true', async () => {
    const before = (await call('GET', `${cdrs()}?paginate=false&created_from=${nowG - 30 * DAY}`)).json
      .data as unknown[];
    const records = [
      cdr(6000),
      { call_id: 'no-time' },
      cdr(6001, { direction: 'sideways' }),
      'not an object',
    ];
    const res = await upload(records);
    assert.equal(res.status, 400);
    assert.deepEqual(res.json.data, {
      inserted: 0,
      duplicates: 0,
      rejected: [
        { index: 1, reason: 'timestamp is required (Gregorian seconds)' },
        { index: 2, reason: 'direction must be inbound or outbound' },
        { index: 3, reason: 'a CDR must be a JSON object' },
      ],
    });
    const after = (await call('GET', `${cdrs()}?paginate=false&created_from=${nowG - 30 * DAY}`)).json
      .data as unknown[];
    assert.equal(after.length, before.length);
    const partial = await upload(records, '?partial=true');
    assert.equal(partial.status, 201);
    assert.equal((partial.json.data as { inserted: number }).inserted, 1);
    const bad = await call('PUT', cdrs(), { body: '{"call_id": "x", ', type: 'application/x-ndjson' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.json.data), /not valid JSON/);
  });

  test('JSON bodies: a top-level array and {"data":[…]} stream; other shapes parse whole; bad JSON is a 400', async () => {
    const array = await call('PUT', cdrs(), { body: [cdr(7000), cdr(7001)] });
    assert.equal(array.status, 201, array.text);
    assert.deepEqual(array.json.data, { inserted: 2, duplicates: 0, rejected: [] });
    const dataLater = await call('PUT', cdrs(), {
      body: { meta: { from: 'billing' }, data: [cdr(7002), cdr(7000)] },
    });
    assert.deepEqual(dataLater.json.data, { inserted: 1, duplicates: 1, rejected: [] });
    const many = await call('PUT', cdrs(), {
      body: { data: Array.from({ length: 3000 }, (_, i) => cdr(8000 + i)) },
    });
    assert.deepEqual(many.json.data, { inserted: 3000, duplicates: 0, rejected: [] });
    // A shape that cannot stream is held whole, so it is capped (attack review: 150 MB held).
    const padding = 'x'.repeat(9 * 1024 * 1024);
    const heldWhole = await call('PUT', cdrs(), { body: { meta: padding, data: [cdr(7003)] } });
    assert.equal(heldWhole.status, 413, heldWhole.text);
    assert.match(JSON.stringify(heldWhole.json), /must start with/);
    for (const broken of ['{"data": [{"call_id": "x"', '[1, 2', '{"call_id": ']) {
      const res = await call('PUT', cdrs(), { body: broken });
      assert.equal(res.status, 400, broken);
      assert.match(res.json.data ? JSON.stringify(res.json.data) : '', /not valid JSON/);
    }
  });

  test('a body over the upload limit gets 413 and stores nothing', async () => {
    const small = await startServer(server.db, { worker: false, env: { CDREX_UPLOAD_LIMIT_MB: '1' } });
    const records = Array.from({ length: 4000 }, (_, i) => JSON.stringify(cdr(90000 + i))).join('\n');
    assert.ok(records.length > 1024 * 1024);
    for (const type of ['application/x-ndjson', 'application/json']) {
      const body = type === 'application/json' ? `[${records.split('\n').join(',')}]` : records;
      const res = await fetch(`${small.base}${cdrs()}`, {
        method: 'PUT',
        headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': type },
        body,
      });
      assert.equal(res.status, 413, type);
      assert.equal(((await res.json()) as Envelope).error, '413');
    }
    const stored = await server.db.pool.query(
      "select count(*)::int as n from cdrs where call_id like 'call-9____'",
    );
    assert.equal(stored.rows[0].n, 0);
  });
});

describe('answers written byte by byte', () => {
  // Lists, details and legs are written into one Buffer from PostgreSQL's JSON (concatUtf8): values
  // that look like SQL or JSON, multi-byte characters and a name of the most characters a text
  // field keeps (512) must come back exactly, in an answer whose Content-Length is its UTF-8 length.
  const hostile = [
    '$4',
    "'); drop table cdrs; --",
    '"quoted" \\ back\\slash',
    'line\u2028sep\u2029para',
    'é😀李小龍 ☎',
    '</script><script>x</script>',
    `${'long-'.repeat(102)}李é`,
  ];

  test('hostile and multi-byte values come back exactly from the list, a detail and legs', async () => {
    const records = hostile.map((name, i) => ({
      ...cdr(900 + i),
      caller_id_name: name,
      interaction_id: 'inter-hostile',
    }));
    assert.equal((await upload(records, '', bob)).status, 201);
    const bobCall = kazooClient<Envelope>(server.base, bob.api_key);
    const exact = (res: { text: string; headers: Headers }) =>
      assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(res.text));
    const names = (data: unknown) =>
      (data as { caller_id_name: string }[]).map((d) => d.caller_id_name).sort();

    const list = await bobCall('GET', `${cdrs(bob.account_id)}?page_size=50`);
    assert.equal(list.status, 200, list.text);
    exact(list);
    assert.deepEqual(names(list.json.data), [...hostile].sort());

    const legs = await bobCall('GET', `${cdrs(bob.account_id)}/legs/inter-hostile`);
    assert.equal(legs.status, 200, legs.text);
    exact(legs);
    assert.deepEqual(names(legs.json.data), [...hostile].sort());

    for (const row of list.json.data as { id: string; caller_id_name: string }[]) {
      const detail = await bobCall('GET', `${cdrs(bob.account_id)}/${encodeURIComponent(row.id)}`);
      assert.equal(detail.status, 200, detail.text);
      exact(detail);
      assert.equal((detail.json.data as { caller_id_name: string }).caller_id_name, row.caller_id_name);
    }
  });
});
