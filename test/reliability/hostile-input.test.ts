// Promise: hostile or broken input gets a clear error in the dialect's own format, never a 5xx,
// never another account's data, and never changes what is stored. Property-based (fast-check):
// every parser and query parameter gets malformed JSON, wrong types, huge numbers, unicode, NUL
// bytes, SQL fragments and path traversal; every table is counted before and after.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createTestDatabase } from '../helpers/db.js';
import { startServer } from '../helpers/server.js';

const RUNS = Number(process.env.CDREX_PROPERTY_RUNS ?? 150);
const server = await startServer(await createTestDatabase(), { worker: false });
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
await server.seed(bob.account_id, 'cdr_in', 200, 3);
const cdrs = `/v2/accounts/${alice.account_id}/cdrs`;

/** Strings an attacker or a broken client sends. */
const NASTY = [
  "'; drop table cdrs; --",
  "' or '1'='1",
  '1; select pg_sleep(10)',
  '../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2f',
  '..\\..\\windows',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '😀📞',
  'Ω≈ç√',
  '9'.repeat(400),
  '-1',
  '1e309',
  'NaN',
  '{"$gt":""}',
  '[',
  '*',
  '%',
  '_',
  '',
  ' ',
  'null',
  bob.account_id,
];
const hostileString = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.double().map(String),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostileString, { maxLength: 3 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 3 }),
);

async function tableCounts(): Promise<Record<string, number>> {
  const { rows } = await server.db.pool.query<{ table_name: string }>(
    `select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
      order by 1`,
  );
  const counts: Record<string, number> = {};
  for (const { table_name } of rows) {
    const r = await server.db.pool.query(`select count(*)::int as n from "${table_name}"`);
    counts[table_name] = r.rows[0].n;
  }
  return counts;
}

async function send(
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
) {
  const res = await fetch(`${server.base}${path}`, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text };
}

/** A JSON:API error document: `errors` with string status codes matching the answer. */
function assertDidwwError(res: { status: number; type: string; text: string }) {
  assert.ok(res.status >= 400 && res.status < 500, `${res.status}: ${res.text}`);
  assert.equal(res.type, 'application/vnd.api+json');
  const doc = JSON.parse(res.text) as { errors: { status: string; title: string }[] };
  assert.ok(doc.errors.length > 0);
  for (const e of doc.errors) assert.ok(e.title && e.status, res.text);
}

/** Kazoo's envelope: status "error", error = the HTTP code, a message. */
function assertKazooError(res: { status: number; type: string; text: string }) {
  assert.ok(res.status >= 400 && res.status < 500, `${res.status}: ${res.text}`);
  const env = JSON.parse(res.text) as { status: string; error: string; message: string };
  assert.equal(env.status, 'error');
  assert.equal(env.error, String(res.status));
  assert.ok(env.message);
}

const didww = { 'Api-Key': alice.api_key, 'Content-Type': 'application/vnd.api+json' };
const kazoo = { 'X-Auth-Token': alice.api_key };
/** Every byte percent-encoded (encodeURIComponent refuses lone surrogates). */
const path = (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

describe('hostile input', () => {
  const before = tableCounts();

  test('DIDWW create: any attributes get 201 or a 4xx JSON:API error, never a 5xx', async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            export_type: fc.oneof(fc.constantFrom('cdr_in', 'cdr_out'), hostileValue),
            filters: fc.oneof(
              fc.record(
                { year: hostileValue, month: hostileValue, did_number: hostileValue },
                { requiredKeys: [] },
              ),
              hostileValue,
            ),
            callback_url: hostileValue,
            callback_method: hostileValue,
            external_reference_id: hostileValue,
          },
          { requiredKeys: [] },
        ),
        async (attributes) => {
          const res = await send('POST', '/v3/exports', {
            headers: didww,
            body: JSON.stringify({ data: { type: 'exports', attributes } }),
          });
          if (res.status === 201) created++;
          else assertDidwwError(res);
        },
      ),
      { numRuns: RUNS },
    );
    const counts = await tableCounts();
    const start = await before;
    assert.equal(counts.exports, start.exports + created, 'only accepted exports were stored');
  });

  test('DIDWW: malformed JSON and wrong document shapes get 400/422, wrong media types 415/406', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 60 }),
          fc.json().map((j) => j.slice(1)),
        ),
        async (body) => {
          const res = await send('POST', '/v3/exports', { headers: didww, body });
          assertDidwwError(res);
        },
      ),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(fc.json(), async (body) => {
        const res = await send('POST', '/v3/exports', { headers: didww, body });
        if (res.status !== 201) assertDidwwError(res);
      }),
      { numRuns: RUNS },
    );
    const types = fc.oneof(
      fc.constantFrom(
        'application/json',
        'text/plain',
        'application/vnd.api+json; charset=utf-8',
        'multipart/form-data',
      ),
      fc.stringMatching(/^[a-z]{1,8}\/[a-z+.-]{1,12}$/),
    );
    await fc.assert(
      fc.asyncProperty(types, async (type) => {
        fc.pre(type !== 'application/vnd.api+json');
        const res = await send('POST', '/v3/exports', {
          headers: { ...didww, 'Content-Type': type },
          body: '{}',
        });
        assert.equal(res.status, 415, `${type}: ${res.text}`);
        assertDidwwError(res);
      }),
      { numRuns: 40 },
    );
    const res = await send('GET', '/v3/exports', {
      headers: { ...didww, Accept: 'application/vnd.api+json; q=1' },
    });
    assert.equal(res.status, 406);
    assertDidwwError(res);
  });

  test('DIDWW: guessed, traversing or garbage ids and file names find nothing', async () => {
    const id = await server
      .createExport(bob.api_key, { export_type: 'cdr_in', filters: { year: 2000, month: 1 } })
      .catch(() => undefined);
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileString, fc.uuid()), async (guess) => {
        // `/v3/exports/` is the list itself; `.` and `..` are dot segments the client resolves.
        fc.pre(guess.trim() !== '' && !['/', '.', '..'].includes(guess));
        const show = await send('GET', `/v3/exports/${path(guess)}`, { headers: didww });
        assert.ok([400, 404, 414].includes(show.status), `${guess}: ${show.status}`);
        assertDidwwError(show);
        const file = await send('GET', `/v3/exports/${path(guess)}.csv.gz`, { headers: didww });
        assert.ok([400, 404, 414].includes(file.status), `${guess}.csv.gz: ${file.status}`);
      }),
      { numRuns: RUNS },
    );
    if (id) assert.equal((await send('GET', `/v3/exports/${id}`, { headers: didww })).status, 404);
  });

  test('Kazoo list: any query parameters get 200 or a Kazoo 400, and only the own account’s rows', async () => {
    const names = fc.oneof(
      fc.constantFrom(
        'created_from',
        'created_to',
        'page_size',
        'start_key',
        'utc_offset',
        'ascending',
        'paginate',
        'filter_caller_id_number',
        'filter_not_hangup_cause',
        'filter_duration_seconds',
        'filter_imported',
        'filter_direction',
        'filter_custom_channel_vars.account_id',
        'has_key',
        'has_value',
        'key_missing',
      ),
      hostileString.map((s) => `filter_${s}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.dictionary(names, hostileString, { maxKeys: 4 }), async (query) => {
        const qs = new URLSearchParams(query).toString();
        const res = await send('GET', `${cdrs}?${qs}`, { headers: kazoo });
        if (res.status === 200) {
          const env = JSON.parse(res.text) as { data: { id: string }[] };
          assert.equal(env.data.length, 0, 'alice has no CDRs: anything listed would be another account’s');
        } else assertKazooError(res);
      }),
      { numRuns: RUNS },
    );
  });

  test('Kazoo detail, legs and users: garbage ids get a Kazoo 404 or 400', async () => {
    await fc.assert(
      fc.asyncProperty(hostileString, async (guess) => {
        // Those are routes; `.` and `..` are dot segments that the client itself resolves.
        fc.pre(guess.trim() !== '' && !['summary', 'interaction', '.', '..'].includes(guess));
        for (const p of [`${cdrs}/${path(guess)}`, `${cdrs}/legs/${path(guess)}`]) {
          const res = await send('GET', p, { headers: kazoo });
          assertKazooError(res);
        }
        const user = await send('GET', `/v2/accounts/${alice.account_id}/users/${path(guess)}/cdrs`, {
          headers: kazoo,
        });
        if (user.status !== 200) assertKazooError(user);
      }),
      { numRuns: RUNS },
    );
  });

  test('Kazoo upload: any records are stored whole or refused whole, with a Kazoo error', async () => {
    const record = fc.oneof(
      fc.record(
        {
          call_id: hostileValue,
          timestamp: fc.oneof(hostileValue, fc.integer({ min: 63000000000, max: 64000000000 })),
          duration_seconds: hostileValue,
          billing_seconds: hostileValue,
          direction: fc.oneof(fc.constantFrom('inbound', 'outbound'), hostileValue),
          caller_id_number: hostileValue,
          cost: hostileValue,
          custom_channel_vars: hostileValue,
        },
        { requiredKeys: [] },
      ),
      hostileValue,
    );
    await fc.assert(
      fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 4 }), async (records) => {
        const start = Number((await server.db.pool.query('select count(*) from cdrs')).rows[0].count);
        const res = await send('PUT', cdrs, {
          headers: { ...kazoo, 'Content-Type': 'application/json' },
          body: JSON.stringify({ data: records }),
        });
        const end = Number((await server.db.pool.query('select count(*) from cdrs')).rows[0].count);
        if (res.status === 201) {
          const env = JSON.parse(res.text) as { data: { inserted: number; duplicates: number } };
          assert.equal(end - start, env.data.inserted);
          assert.equal(env.data.inserted + env.data.duplicates, records.length);
          await server.db.pool.query('delete from cdrs where account_id = $1', [alice.account_id]);
        } else {
          assertKazooError(res);
          assert.equal(end, start, 'a refused upload stores nothing');
        }
      }),
      { numRuns: RUNS },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 80 }),
        fc.constantFrom('application/json', 'application/x-ndjson', 'text/csv'),
        async (body, type) => {
          const res = await send('PUT', cdrs, { headers: { ...kazoo, 'Content-Type': type }, body });
          if (res.status === 201)
            await server.db.pool.query('delete from cdrs where account_id = $1', [alice.account_id]);
          else assertKazooError(res);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('FreeSWITCH ingest: garbage bodies get a 4xx', async () => {
    const basic = `Basic ${Buffer.from(`${alice.account_id}:${alice.api_key}`).toString('base64')}`;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.json()),
        fc.constantFrom('application/json', 'application/x-www-form-urlencoded'),
        async (body, type) => {
          const res = await send('POST', '/ingest/freeswitch', {
            headers: { Authorization: basic, 'Content-Type': type },
            body,
          });
          assert.ok(res.status >= 400 && res.status < 500, `${res.status}: ${res.text}`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('afterwards every table holds what it held before, but the accepted exports', async () => {
    const start = await before;
    const end = await tableCounts();
    const changed = Object.keys(end).filter(
      (t) => end[t] !== start[t] && !['exports', 'jobs', 'api_tokens'].includes(t),
    );
    assert.deepEqual(changed, [], `tables changed: ${changed.join(', ')}`);
    assert.equal(end.jobs - start.jobs, end.exports - start.exports, 'one job per accepted export');
  });
});
