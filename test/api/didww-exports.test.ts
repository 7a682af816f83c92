// The DIDWW v3 exports contract, over HTTP: every status code and header it names.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import Kitsu from 'kitsu';
import { createTestDatabase, tableCounts } from '../helpers/db.js';

/** Counts of the tables a request can change (the worker changes jobs and files meanwhile). */
async function requestTables() {
  const { accounts, api_keys, cdrs, exports } = await tableCounts(server.db.pool);
  return { accounts, api_keys, cdrs, exports };
}
import { didwwClient, JSON_API } from '../helpers/http.js';
import {
  MONTH_START,
  NOW,
  startServer,
  THIS_MONTH,
  THIS_YEAR,
  waitFor,
  type TestServer,
} from '../helpers/server.js';

const UNAUTHORIZED = {
  errors: [{ title: 'Unauthorized', detail: 'Authorization failed', code: '401', status: '401' }],
};
const TRUNK = '457bf47d-446d-41cd-91c3-dfbda7bf0753';

// Set up at the top level: after() hooks registered by the helpers then belong to this file.
const server: TestServer = await startServer(await createTestDatabase());
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
await server.seed(alice.account_id, 'cdr_in', 3000, 11);
await server.seed(alice.account_id, 'cdr_out', 2000, 12);
await server.seed(bob.account_id, 'cdr_in', 500, 13);

const api = didwwClient(server.base, alice.api_key);

function exportBody(attributes: Record<string, unknown>) {
  return { data: { type: 'exports', attributes } };
}

/** Alice's CDRs of a kind (and trunk) on the 1st of this month, UTC, as stored. */
async function storedOnDay1(kind: string, trunk?: string): Promise<number> {
  const { rows } = await server.db.pool.query<{ n: number }>(
    `select count(*)::int as n from cdrs
      where account_id = $1 and kind = $2 and time_start >= $3 and time_start < $4
        and ($5::text is null or voice_out_trunk_id::text = $5)`,
    [alice.account_id, kind, MONTH_START, new Date(MONTH_START.getTime() + 86_400_000), trunk ?? null],
  );
  return rows[0].n;
}

const monthFilters = { year: String(THIS_YEAR), month: String(THIS_MONTH).padStart(2, '0') };

async function createExport(attributes: Record<string, unknown>, key = alice.api_key, headers = {}) {
  const res = await api('POST', '/v3/exports', { body: exportBody(attributes), key, headers });
  assert.equal(res.status, 201, res.text);
  return res.json.data as { id: string; attributes: Record<string, unknown> };
}

async function completed(id: string, key = alice.api_key, headers = {}) {
  return waitFor(async () => {
    const res = await api('GET', `/v3/exports/${id}`, { key, headers });
    const status = String(res.json.data.attributes.status).toLowerCase();
    return status === 'completed' && res.json.data;
  }, `export ${id} to complete`);
}

async function download(url: string, key = alice.api_key, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers: { 'Api-Key': key, ...headers } });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

describe('authentication and media types', () => {
  test('a missing or wrong Api-Key gets 401 with the exact body', async () => {
    for (const key of [null, 'not-a-key', bob.api_key.slice(0, -1)]) {
      const res = await api('GET', '/v3/exports', { key });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, UNAUTHORIZED);
      assert.equal(res.headers.get('content-type'), JSON_API);
    }
  });

  test('a body that is not exactly application/vnd.api+json gets 415', async () => {
    const before = await requestTables();
    for (const type of ['application/json', `${JSON_API}; charset=utf-8`, 'text/plain']) {
      const res = await api('POST', '/v3/exports', {
        body: exportBody({ export_type: 'cdr_in', filters: monthFilters }),
        headers: { 'Content-Type': type },
      });
      assert.equal(res.status, 415, type);
      assert.equal(res.json.errors[0].status, '415');
    }
    assert.deepEqual(await requestTables(), before);
  });

  test('an Accept with only parameterised JSON:API media types gets 406; */* and none are fine', async () => {
    const res = await api('GET', '/v3/exports', { headers: { Accept: `${JSON_API}; ext="bulk"` } });
    assert.equal(res.status, 406);
    assert.equal(res.json.errors[0].code, '406');
    for (const accept of ['*/*', JSON_API, `${JSON_API}; ext=x, ${JSON_API}`]) {
      assert.equal((await api('GET', '/v3/exports', { headers: { Accept: accept } })).status, 200, accept);
    }
    const none = await fetch(`${server.base}/v3/exports`, { headers: { 'Api-Key': alice.api_key } });
    assert.equal(none.status, 200);
  });

  test('X-DIDWW-API-Version: default, 2022-05-10 echoed, unknown gets 400', async () => {
    assert.equal((await api('GET', '/v3/exports')).json.meta.api_version, '2021-12-15');
    const v2022 = await api('GET', '/v3/exports', { headers: { 'X-DIDWW-API-Version': '2022-05-10' } });
    assert.equal(v2022.json.meta.api_version, '2022-05-10');
    const bad = await api('GET', '/v3/exports', { headers: { 'X-DIDWW-API-Version': '2019-01-01' } });
    assert.equal(bad.status, 400);
    assert.match(bad.json.errors[0].detail, /2021-12-15/);
  });

  test('malformed JSON gets 400 and stores nothing', async () => {
    const res = await api('POST', '/v3/exports', { body: '{"data": {' });
    assert.equal(res.status, 400);
    assert.equal(res.json.errors[0].status, '400');
  });
});

describe('POST /v3/exports', () => {
  test('the seed examples are accepted as documented', async () => {
    const inbound = await api('POST', '/v3/exports', {
      body: exportBody({ export_type: 'cdr_in', filters: { ...monthFilters, did_number: '123456789' } }),
    });
    assert.equal(inbound.status, 201);
    assert.equal(inbound.headers.get('content-type'), JSON_API);
    const { data, meta } = inbound.json;
    assert.match(data.id, /^[0-9a-f-]{36}$/);
    assert.equal(data.type, 'exports');
    assert.deepEqual(Object.keys(data.attributes), [
      'status',
      'created_at',
      'url',
      'callback_url',
      'callback_method',
      'export_type',
    ]);
    assert.equal(data.attributes.status, 'Pending');
    assert.match(data.attributes.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(data.attributes.url, null);
    assert.equal(data.attributes.export_type, 'cdr_in');
    assert.deepEqual(meta, { api_version: '2021-12-15' });

    const withCallback = await createExport({
      callback_url: 'http://example.com',
      callback_method: 'GET',
      export_type: 'cdr_in',
      filters: monthFilters,
    });
    assert.equal(withCallback.attributes.callback_url, 'http://example.com');
    assert.equal(withCallback.attributes.callback_method, 'GET');

    const outDay = await createExport({
      export_type: 'cdr_out',
      filters: { ...monthFilters, day: '1', 'voice_out_trunk.id': TRUNK },
    });
    assert.equal(outDay.attributes.export_type, 'cdr_out');
    const outMonth = await createExport({
      export_type: 'cdr_out',
      filters: { year: THIS_YEAR, month: THIS_MONTH, 'voice_out_trunk.id': TRUNK },
    });
    assert.equal(outMonth.attributes.status, 'Pending');
  });

  test('each invalid attribute gets its own 422 entry with a pointer', async () => {
    const before = await requestTables();
    const res = await api('POST', '/v3/exports', {
      body: exportBody({ export_type: 'cdr_in', filters: {} }),
    });
    assert.equal(res.status, 422);
    assert.deepEqual(res.json.errors, [
      {
        title: "can't be blank",
        detail: "filters.year - can't be blank",
        code: '100',
        source: { pointer: '/data/attributes/filters.year' },
        status: '422',
      },
      {
        title: "can't be blank",
        detail: "filters.month - can't be blank",
        code: '100',
        source: { pointer: '/data/attributes/filters.month' },
        status: '422',
      },
    ]);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ filters: monthFilters }, 'export_type', "can't be blank"],
      [{ export_type: 'cdr_x', filters: monthFilters }, 'export_type', 'is not included in the list'],
      [{ export_type: 'cdr_in' }, 'filters', "can't be blank"],
      [
        { export_type: 'cdr_in', filters: { ...monthFilters, month: '13' } },
        'filters.month',
        'is not included in the list',
      ],
      [{ export_type: 'cdr_in', filters: { ...monthFilters, year: 'abcd' } }, 'filters.year', 'is invalid'],
      [{ export_type: 'cdr_out', filters: monthFilters }, 'filters.voice_out_trunk.id', "can't be blank"],
      [
        { export_type: 'cdr_out', filters: { ...monthFilters, 'voice_out_trunk.id': 'x' } },
        'filters.voice_out_trunk.id',
        'is invalid',
      ],
      [
        { export_type: 'cdr_out', filters: { ...monthFilters, day: '32', 'voice_out_trunk.id': TRUNK } },
        'filters.day',
        'is invalid',
      ],
      [
        { export_type: 'cdr_in', filters: { year: THIS_YEAR + 1, month: 1 } },
        'filters.month',
        'must be within the last 3 months',
      ],
      [
        { export_type: 'cdr_in', filters: { year: THIS_YEAR - 1, month: THIS_MONTH } },
        'filters.month',
        'must be within the last 3 months',
      ],
      [
        { export_type: 'cdr_in', filters: monthFilters, callback_method: 'GET' },
        'callback_method',
        'is invalid',
      ],
      [
        {
          export_type: 'cdr_in',
          filters: monthFilters,
          callback_url: 'http://example.com',
          callback_method: 'PUT',
        },
        'callback_method',
        'is not included in the list',
      ],
      [
        { export_type: 'cdr_in', filters: monthFilters, callback_url: 'example.com/cb' },
        'callback_url',
        'is invalid',
      ],
      [
        { export_type: 'cdr_in', filters: monthFilters, callback_url: 'ftp://example.com/cb' },
        'callback_url',
        'is invalid',
      ],
      [
        { export_type: 'cdr_in', filters: monthFilters, callback_url: 'http://10.0.0.1/cb' },
        'callback_url',
        'is invalid',
      ],
    ];
    for (const [attributes, field, title] of cases) {
      const r = await api('POST', '/v3/exports', { body: exportBody(attributes) });
      assert.equal(r.status, 422, JSON.stringify(attributes));
      assert.ok(
        r.json.errors.some(
          (e: { detail: string; source: { pointer: string } }) =>
            e.detail === `${field} - ${title}` && e.source.pointer === `/data/attributes/${field}`,
        ),
        `${JSON.stringify(attributes)} → ${r.text}`,
      );
    }
    const wrongType = await api('POST', '/v3/exports', {
      body: { data: { type: 'orders', attributes: { export_type: 'cdr_in', filters: monthFilters } } },
    });
    assert.equal(wrongType.status, 422);
    assert.equal(wrongType.json.errors[0].source.pointer, '/data/type');
    assert.deepEqual(await requestTables(), before);
  });

  test('the two previous months are within the window', async () => {
    const twoBack = new Date(Date.UTC(THIS_YEAR, THIS_MONTH - 3, 1));
    const created = await createExport({
      export_type: 'cdr_in',
      filters: { year: twoBack.getUTCFullYear(), month: twoBack.getUTCMonth() + 1 },
    });
    assert.equal(created.attributes.status, 'Pending');
  });
});

describe('GET /v3/exports and /v3/exports/{id}', () => {
  test("show answers 200 for one's own export and 404 otherwise", async () => {
    const created = await createExport({ export_type: 'cdr_in', filters: monthFilters });
    const own = await api('GET', `/v3/exports/${created.id}`);
    assert.equal(own.status, 200);
    assert.equal(own.json.data.id, created.id);
    for (const [id, key] of [
      [created.id, bob.api_key],
      ['2b4e9d2a-0d6e-4a8e-9d63-4f1f8f0f0f0f', alice.api_key],
      ['not-a-uuid', alice.api_key],
    ]) {
      const res = await api('GET', `/v3/exports/${id}`, { key });
      assert.equal(res.status, 404);
      assert.deepEqual(res.json, {
        errors: [
          {
            title: 'Record not found',
            detail: `The record identified by ${id} could not be found.`,
            code: '404',
            status: '404',
          },
        ],
      });
    }
  });

  test('list pages with absolute links, sorts, counts, and accepts encoded brackets', async () => {
    const all = await api('GET', '/v3/exports?page[size]=100');
    const total = all.json.meta.total_records;
    assert.ok(total >= 5);
    assert.equal(all.json.data.length, total);
    const bobs = await api('GET', '/v3/exports', { key: bob.api_key });
    assert.equal(bobs.json.meta.total_records, 0);

    const page2 = await api('GET', '/v3/exports?page%5Bnumber%5D=2&page%5Bsize%5D=2&sort=created_at');
    assert.equal(page2.status, 200);
    assert.equal(page2.json.data.length, 2);
    const links = page2.json.links;
    for (const name of ['first', 'last', 'next', 'prev'])
      assert.match(links[name], new RegExp(`^${server.base}/v3/exports\\?`), name);
    assert.match(decodeURIComponent(links.next), /page\[number\]=3/);
    assert.match(decodeURIComponent(links.last), new RegExp(`page\\[number\\]=${Math.ceil(total / 2)}`));

    const asc = (await api('GET', '/v3/exports?sort=created_at&page[size]=100')).json.data.map(
      (d: { id: string }) => d.id,
    );
    const desc = (await api('GET', '/v3/exports?sort=-created_at&page[size]=100')).json.data.map(
      (d: { id: string }) => d.id,
    );
    assert.deepEqual(desc, [...asc].reverse());
    const byStatus = (await api('GET', '/v3/exports?sort=status&page[size]=100')).json.data.map(
      (d: { attributes: { status: string } }) => d.attributes.status,
    );
    const rank = ['Pending', 'Processing', 'Completed'];
    assert.deepEqual(
      byStatus,
      [...byStatus].sort((a, b) => rank.indexOf(a) - rank.indexOf(b)),
    );
  });

  test('page[size] over 100, page[number] 0 and an unknown sort get 400', async () => {
    for (const q of ['page[size]=101', 'page[number]=0', 'sort=name']) {
      const res = await api('GET', `/v3/exports?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.json.errors[0].status, '400');
    }
  });

  test('an unknown route under /v3 gets a JSON:API 404', async () => {
    const res = await api('GET', '/v3/nothing-here');
    assert.equal(res.status, 404);
    assert.equal(res.json.errors[0].status, '404');
  });
});

describe('export files', () => {
  let inbound: { id: string; attributes: Record<string, unknown> };
  let fileUrl: string;
  let body: Buffer;

  before(async () => {
    inbound = await createExport({ export_type: 'cdr_in', filters: monthFilters });
    const done = await completed(inbound.id);
    fileUrl = String(done.attributes.url);
    body = (await download(fileUrl)).body;
  });

  test('a completed export has an unguessable file URL that is not its id', async () => {
    assert.match(fileUrl, new RegExp(`^${server.base}/v3/exports/[0-9a-f-]{36}\\.csv\\.gz$`));
    assert.ok(!fileUrl.includes(inbound.id));
    // Resource meta is the current API version's (2026-04-16); the seeds' versions have none.
    assert.equal((await completed(inbound.id)).meta, undefined);
  });

  test('the download: headers, gzip of the CSV, every row of the month in order', async () => {
    const { res } = await download(fileUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const name = path.basename(new URL(fileUrl).pathname);
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="${name}"`);
    assert.equal(Number(res.headers.get('content-length')), body.length);
    assert.equal(res.headers.get('etag'), `"${createHash('sha256').update(body).digest('hex')}"`);
    const lines = zlib.gunzipSync(body).toString('utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a newline');
    assert.equal(
      lines[0],
      'Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Status,Source,Source Name,Destination DID,Duration (sec),Attempt,Disconnect Code,Response,Disconnect Initiator,Voice IN Trunk,Destination,Trunk Group,Capacity Group,Toll-free (USD),PSTN (USD),Metered (USD),CNAM IN (USD),Total (USD),Call ID',
    );
    const stored = await server.db.pool.query(
      "select count(*)::int as n from cdrs where account_id = $1 and kind = 'cdr_in' and time_start >= $2",
      [alice.account_id, MONTH_START],
    );
    assert.equal(lines.length - 1, stored.rows[0].n);
    const starts = lines.slice(1).map((l) => l.slice(0, 19));
    assert.deepEqual(starts, [...starts].sort());
    const failed = lines.find((l) => l.split(',')[3] === 'Failed')!.split(',');
    assert.equal(failed[1], '', 'no connect time on a failed call');
    assert.match(lines[1].split(',')[20], /^\d+\.\d{4}$/, 'money has 4 decimals');
  });

  test('HEAD, Range, If-Range and If-None-Match', async () => {
    const head = await fetch(fileUrl, { method: 'HEAD', headers: { 'Api-Key': alice.api_key } });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), body.length);
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
    const part = await download(fileUrl, alice.api_key, { Range: 'bytes=10-19' });
    assert.equal(part.res.status, 206);
    assert.equal(part.res.headers.get('content-range'), `bytes 10-19/${body.length}`);
    assert.deepEqual(part.body, body.subarray(10, 20));

    const tail = await download(fileUrl, alice.api_key, { Range: 'bytes=-5' });
    assert.equal(tail.res.status, 206);
    assert.deepEqual(tail.body, body.subarray(body.length - 5));

    const beyond = await download(fileUrl, alice.api_key, { Range: `bytes=${body.length + 10}-` });
    assert.equal(beyond.res.status, 416);
    assert.equal(beyond.res.headers.get('content-range'), `bytes */${body.length}`);

    const stale = await download(fileUrl, alice.api_key, {
      Range: 'bytes=0-9',
      'If-Range': '"something-else"',
    });
    assert.equal(stale.res.status, 200);
    assert.equal(stale.body.length, body.length);
    const fresh = await download(fileUrl, alice.api_key, { Range: 'bytes=0-9', 'If-Range': etag });
    assert.equal(fresh.res.status, 206);

    const notModified = await download(fileUrl, alice.api_key, { 'If-None-Match': etag });
    assert.equal(notModified.res.status, 304);
    assert.equal(notModified.body.length, 0);
  });

  test('another account, a guessed name, the export id, traversal: 404 with no body; no key: 401', async () => {
    const fileId = path.basename(new URL(fileUrl).pathname, '.csv.gz');
    for (const [url, key] of [
      [fileUrl, bob.api_key],
      [`${server.base}/v3/exports/6f1c8f4e-0000-4000-8000-000000000000.csv.gz`, alice.api_key],
      [`${server.base}/v3/exports/${inbound.id}.csv.gz`, alice.api_key],
      [`${server.base}/v3/exports/..%2F..%2F${fileId}.csv.gz`, alice.api_key],
      [`${server.base}/v3/exports/%2e%2e%2fcluster.json.csv.gz`, alice.api_key],
    ]) {
      const { res, body: b } = await download(url, key);
      assert.equal(res.status, 404, url);
      assert.equal(b.length, 0, url);
    }
    const anonymous = await fetch(fileUrl);
    assert.equal(anonymous.status, 401);
  });

  test('did_number narrows an inbound export to one DID', async () => {
    const did = (
      await server.db.pool.query(
        "select did_number from cdrs where account_id = $1 and kind = 'cdr_in' limit 1",
        [alice.account_id],
      )
    ).rows[0].did_number;
    const exp = await createExport({ export_type: 'cdr_in', filters: { ...monthFilters, did_number: did } });
    const done = await completed(exp.id);
    const rows = zlib
      .gunzipSync((await download(String(done.attributes.url))).body)
      .toString()
      .trim()
      .split('\n')
      .slice(1);
    const expected = (
      await server.db.pool.query(
        "select count(*)::int as n from cdrs where account_id = $1 and kind = 'cdr_in' and did_number = $2",
        [alice.account_id, did],
      )
    ).rows[0].n;
    assert.ok(expected > 0);
    assert.equal(rows.length, expected);
    assert.ok(rows.every((r) => r.split(',')[6] === did));
  });

  test('an outbound export of one trunk and one day has the outbound columns', async () => {
    const trunk = (
      await server.db.pool.query(
        "select voice_out_trunk_id from cdrs where account_id = $1 and kind = 'cdr_out' and time_start < $2 limit 1",
        [alice.account_id, new Date(MONTH_START.getTime() + 86_400_000)],
      )
    ).rows[0].voice_out_trunk_id;
    const exp = await createExport({
      export_type: 'cdr_out',
      filters: { ...monthFilters, day: 1, 'voice_out_trunk.id': trunk },
    });
    const done = await completed(exp.id);
    const lines = zlib
      .gunzipSync((await download(String(done.attributes.url))).body)
      .toString()
      .trim()
      .split('\n');
    assert.equal(
      lines[0],
      'Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Status,Source,CLI,Destination Number,Call Duration (sec),Billing Duration (sec),Disconnect Code,Disconnect Reason,Voice OUT Trunk,Destination Country,Network,Call Type,Rate (USD),Charged (USD),P-Charge-Info,Call ID',
    );
    const day1 = `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-01`;
    assert.equal(lines.length - 1, await storedOnDay1('cdr_out', trunk));
    assert.ok(lines.length > 1);
    assert.ok(lines.slice(1).every((l) => l.startsWith(day1) && l.split(',')[11] === trunk));
  });
});

describe('API version 2026-04-16', () => {
  const v2026 = { 'X-DIDWW-API-Version': '2026-04-16' };

  test('from/to filters, lowercase values, external_reference_id, filters returned', async () => {
    const from = `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-01 00:00:00`;
    const to = `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-02 00:00:00`;
    const res = await api('POST', '/v3/exports', {
      headers: v2026,
      body: exportBody({
        export_type: 'cdr_in',
        filters: { from, to },
        callback_url: 'https://example.com/cb',
        callback_method: 'post',
        external_reference_id: 'invoice-42',
      }),
    });
    assert.equal(res.status, 201, res.text);
    const attrs = res.json.data.attributes;
    assert.equal(attrs.status, 'pending');
    assert.equal(attrs.callback_method, 'post');
    assert.equal(attrs.external_reference_id, 'invoice-42');
    assert.deepEqual(attrs.filters, { from, to });
    assert.equal(res.json.meta.api_version, '2026-04-16');

    const done = await completed(res.json.data.id, alice.api_key, v2026);
    assert.equal(done.attributes.status, 'completed');
    const file = (await download(String(done.attributes.url))).body;
    const lines = zlib.gunzipSync(file).toString().trim().split('\n');
    // Every stored row of that day, and only those (an empty file passed the `every` alone).
    assert.equal(lines.length - 1, await storedOnDay1('cdr_in'));
    assert.ok(lines.length > 1);
    assert.ok(lines.slice(1).every((l) => l.slice(0, 10) === from.slice(0, 10)));
    // The resource's meta says what the file holds: its CDRs (the header line aside) and bytes.
    assert.deepEqual(done.meta, { rows: lines.length - 1, size: file.length });
    assert.equal(res.json.data.meta, undefined, 'no meta before the file exists');

    const filtered = await api('GET', '/v3/exports?filter[external_reference_id]=invoice-42', {
      headers: v2026,
    });
    assert.deepEqual(
      filtered.json.data.map((d: { id: string }) => d.id),
      [res.json.data.id],
    );
  });

  test('from must be before to, and inside the window', async () => {
    const bad = await api('POST', '/v3/exports', {
      headers: v2026,
      body: exportBody({
        export_type: 'cdr_in',
        filters: { from: '2026-01-02 00:00:00', to: '2026-01-01 00:00:00' },
      }),
    });
    assert.equal(bad.status, 422);
    assert.equal(bad.json.errors[0].detail, 'filters.to - is invalid');
    const old = await api('POST', '/v3/exports', {
      headers: v2026,
      body: exportBody({
        export_type: 'cdr_in',
        filters: { from: '2019-01-01 00:00:00', to: '2019-01-31 23:59:59' },
      }),
    });
    assert.equal(old.status, 422);
    assert.equal(old.json.errors[0].title, 'must be within the last 3 months');
  });

  test('PATCH sets external_reference_id; DELETE removes the export and its file', async () => {
    const exp = await createExport({ export_type: 'cdr_in', filters: monthFilters }, alice.api_key, v2026);
    const done = await completed(exp.id, alice.api_key, v2026);
    const patched = await api('PATCH', `/v3/exports/${exp.id}`, {
      headers: v2026,
      body: { data: { id: exp.id, type: 'exports', attributes: { external_reference_id: 'ref-1' } } },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.data.attributes.external_reference_id, 'ref-1');
    const tooLong = await api('PATCH', `/v3/exports/${exp.id}`, {
      headers: v2026,
      body: { data: { id: exp.id, type: 'exports', attributes: { external_reference_id: 'x'.repeat(101) } } },
    });
    assert.equal(tooLong.status, 422);

    assert.equal((await api('DELETE', `/v3/exports/${exp.id}`, { key: bob.api_key })).status, 404);
    const deleted = await api('DELETE', `/v3/exports/${exp.id}`, { headers: v2026 });
    assert.equal(deleted.status, 204);
    assert.equal((await api('GET', `/v3/exports/${exp.id}`)).status, 404);
    assert.equal((await download(String(done.attributes.url))).res.status, 404);
    const fileName = path.basename(new URL(String(done.attributes.url)).pathname);
    assert.equal(fs.existsSync(path.join(server.config.exportDir, fileName)), false);
  });
});

describe('a generic JSON:API client (kitsu)', () => {
  test('creates, lists and reads exports', async () => {
    const client = new Kitsu({
      baseURL: `${server.base}/v3`,
      headers: { 'Api-Key': alice.api_key },
      camelCaseTypes: false,
      resourceCase: 'none',
      pluralize: false,
    });
    const created = await client.post('exports', {
      type: 'exports',
      export_type: 'cdr_in',
      filters: monthFilters,
    });
    const id = (created as { data: { id: string; status: string } }).data.id;
    assert.match(id, /^[0-9a-f-]{36}$/);
    const one = (await client.get(`exports/${id}`)) as {
      data: { id: string; export_type: string };
      meta: { api_version: string };
    };
    assert.equal(one.data.id, id);
    assert.equal(one.data.export_type, 'cdr_in');
    assert.equal(one.meta.api_version, '2021-12-15');
    const list = (await client.get('exports', { params: { page: { size: 100 }, sort: '-created_at' } })) as {
      data: { id: string }[];
      meta: { total_records: number };
    };
    assert.equal(list.data[0].id, id);
    assert.equal(list.meta.total_records, list.data.length);
  });
});

describe('legacy /v3/cdr_exports', () => {
  test('create, list, show and download the 2017 CSV', async () => {
    const res = await api('POST', '/v3/cdr_exports', {
      body: {
        data: { type: 'cdr_exports', attributes: { filters: { year: THIS_YEAR, month: THIS_MONTH } } },
      },
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json.data.type, 'cdr_exports');
    assert.deepEqual(res.json.data.attributes.filters, {
      year: String(THIS_YEAR),
      month: String(THIS_MONTH),
    });
    assert.equal(res.json.meta.api_version, '2017-09-18');
    const id = res.json.data.id;
    const done = await waitFor(async () => {
      const r = await api('GET', `/v3/cdr_exports/${id}`);
      return r.json.data.attributes.status === 'Completed' && r.json.data;
    }, 'legacy export');
    assert.match(done.attributes.url, /\/v3\/cdr_exports\/[0-9a-f-]{36}\.csv$/);
    const list = await api('GET', '/v3/cdr_exports');
    assert.deepEqual(Object.keys(list.json.meta).sort(), ['api_version', 'total_records']);
    assert.equal(list.json.meta.api_version, '2017-09-18');
    assert.ok(list.json.data.every((d: { type: string }) => d.type === 'cdr_exports'));
    const { res: file, body } = await download(done.attributes.url);
    assert.equal(file.status, 200);
    const lines = body.toString('utf8').trim().split('\n');
    assert.equal(
      lines[0],
      'Date/Time (UTC),Source,DID,Destination,Duration (secs),Disconnect Initiator,Disconnect Code,Response,TollFree Amount (USD),Termination Amount (USD),Metered Channels Amount (USD),Customer ID,Sell Amount (Points)',
    );
    assert.ok(lines.length > 1);
    assert.equal(lines[1].split(',')[11], alice.account_id);
    // A legacy export is not a current one, and vice versa.
    assert.equal((await api('GET', `/v3/exports/${id}`)).status, 404);
  });
});

describe('retention', () => {
  test('a file is deleted a month after completion; the export stays completed with url null', async () => {
    const { sweepExportFiles } = await import('../../src/export/retention.js');
    const exp = await createExport({ export_type: 'cdr_in', filters: monthFilters });
    const done = await completed(exp.id);
    const fileName = path.basename(new URL(String(done.attributes.url)).pathname);
    await server.db.pool.query("update exports set completed_at = now() - interval '31 days' where id = $1", [
      exp.id,
    ]);
    const pino = (await import('pino')).default;
    const result = await sweepExportFiles(
      server.db.pool,
      server.config.exportDir,
      30,
      pino({ level: 'silent' }),
      NOW,
    );
    assert.ok(result.expired >= 1);
    const after = await api('GET', `/v3/exports/${exp.id}`);
    assert.equal(after.json.data.attributes.status, 'Completed');
    assert.equal(after.json.data.attributes.url, null);
    assert.equal((await download(String(done.attributes.url))).res.status, 404);
    assert.equal(fs.existsSync(path.join(server.config.exportDir, fileName)), false);
  });
});
