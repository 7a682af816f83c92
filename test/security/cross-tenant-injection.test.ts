// The review's exploit and its variants: account B, with its own credentials, sends values that
// look like SQL placeholders, replacement patterns, quotes, backslashes and LIKE wildcards in
// every filter of every Kazoo path (list, CSV, paginate=false, summary, interactions, legs,
// detail, users) and in DIDWW export filters. No response may hold one row of account A.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, NOW, startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const server = await startServer(await createTestDatabase());
const a = await server.newAccount('a');
const b = await server.newAccount('b');
await server.seed(a.account_id, 'cdr_in', 500, 1);
await server.seed(b.account_id, 'cdr_in', 300, 2);

// The same call and interaction ids in both accounts, so the legs and detail paths have
// something of A's to leak if the account condition were lost.
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
for (const [who, name] of [
  [a, 'A-SECRET'],
  [b, 'b-own'],
] as const) {
  const res = await fetch(`${server.base}/v2/accounts/${who.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': who.api_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      data: [
        {
          call_id: 'shared-call',
          interaction_id: 'shared-inter',
          owner_id: 'shared-owner',
          caller_id_name: name,
          timestamp: nowG - 60,
          duration_seconds: 5,
          custom_channel_vars: { tag: name },
        },
      ],
    }),
  });
  assert.equal(res.status, 201, await res.text());
}

const aCallIds = new Set(
  (
    await server.db.pool.query<{ call_id: string }>(
      "select call_id from cdrs where account_id = $1 and call_id <> 'shared-call'",
      [a.account_id],
    )
  ).rows.map((r) => r.call_id),
);
const bTotal = Number(
  (await server.db.pool.query('select count(*) as n from cdrs where account_id = $1', [b.account_id])).rows[0]
    .n,
);
// 500 rows; a few generated calls took a second attempt under the same call id.
assert.ok(aCallIds.size > 450 && aCallIds.size <= 500, `${aCallIds.size} call ids of A`);

const from = Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET;
const to = nowG + 3600;
const range = `created_from=${from}&created_to=${to}`;
/** B's rows in that range (created_to covers its whole second). */
const bInRange = Number(
  (
    await server.db.pool.query(
      'select count(*) as n from cdrs where account_id = $1 and time_start >= $2 and time_start < $3',
      [b.account_id, MONTH_START, new Date((to - GREGORIAN_OFFSET + 1) * 1000)],
    )
  ).rows[0].n,
);

/** Values that broke or could break text substitution, quoting or LIKE escaping. */
export const HOSTILE = [
  ...Array.from({ length: 9 }, (_, i) => `$${i + 1}`),
  'x$4y',
  '$`',
  "$'",
  '$&',
  '$$',
  '$1$2$3',
  "'",
  "''",
  '"',
  '\\',
  "\\'",
  '%',
  '_',
  '%%*',
  ') or (true) or (callee_name = ',
  "') or true or ('",
  "x' or account_id <> '",
  "'; select pg_read_file('master.key'); --",
  "current_setting('cdrex.account')",
  'é😀',
];

const FILTERS = [
  'filter_caller_id_name',
  'filter_not_caller_id_name',
  'filter_callee_id_name',
  'filter_not_callee_id_name',
  'filter_caller_id_number',
  'filter_call_id',
  'filter_not_call_id',
  'filter_hangup_cause',
  'filter_custom_channel_vars.tag',
  'filter_not_custom_channel_vars.tag',
];

interface Leak {
  path: string;
  detail: string;
}

/** Every call id a response carries (JSON docs or CSV rows), checked against A's. */
function leaksIn(path: string, status: number, body: string, csv: boolean): Leak[] {
  const leaks: Leak[] = [];
  if (body.includes('A-SECRET')) leaks.push({ path, detail: "A's caller name" });
  if (status !== 200) return leaks;
  if (csv) {
    const lines = body.split('\n').filter(Boolean);
    const header = lines[0].split(',');
    const col = header.indexOf('call_id');
    for (const line of lines.slice(1)) {
      const id = line.split(',')[col];
      if (aCallIds.has(id)) leaks.push({ path, detail: `call ${id}` });
    }
    if (lines.length - 1 > bTotal) leaks.push({ path, detail: `${lines.length - 1} rows > ${bTotal}` });
    return leaks;
  }
  const doc = JSON.parse(body) as { data: unknown };
  const rows = Array.isArray(doc.data) ? (doc.data as { call_id?: string }[]) : [];
  for (const r of rows)
    if (r.call_id && aCallIds.has(r.call_id)) leaks.push({ path, detail: `call ${r.call_id}` });
  if (rows.length > bTotal) leaks.push({ path, detail: `${rows.length} rows > ${bTotal}` });
  const calls = (doc.data as { calls?: number }).calls;
  if (typeof calls === 'number' && calls > bTotal) leaks.push({ path, detail: `summary counts ${calls}` });
  return leaks;
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.base}${path}`, { headers: { 'X-Auth-Token': b.api_key } });
  return { status: res.status, body: await res.text() };
}

const base = `/v2/accounts/${b.account_id}/cdrs`;

test("the review's exploit returns B's rows only", async () => {
  const path =
    `${base}?${range}&accept=csv&filter_not_caller_id_name=${encodeURIComponent(') or (true) or (callee_name = ')}` +
    `&filter_callee_id_name=${encodeURIComponent('x$4y')}`;
  const { status, body } = await get(path);
  assert.ok(status === 200 || status === 400, `status ${status}`);
  const leaks = leaksIn(path, status, body, true);
  assert.deepEqual(leaks.slice(0, 3), [], `${leaks.length} leaks`);
});

test('hostile values in every filter of every Kazoo list path leak nothing of A', async () => {
  const leaks: Leak[] = [];
  const statuses = new Map<number, number>();
  for (const value of HOSTILE) {
    for (const filter of FILTERS) {
      const q = `${range}&${filter}=${encodeURIComponent(value)}`;
      for (const [path, csv] of [
        [`${base}?${q}`, false],
        [`${base}?${q}&accept=csv`, true],
        [`${base}?${q}&paginate=false`, false],
        [`${base}/summary?${q}`, false],
        [`${base}/summary?${q}&bucket=hour`, false],
        [`${base}/interaction?${q}`, false],
        [`/v2/accounts/${b.account_id}/users/shared-owner/cdrs?${q}`, false],
      ] as const) {
        const { status, body } = await get(path);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(status < 500, `${path}: ${status} ${body.slice(0, 200)}`);
        leaks.push(...leaksIn(path, status, body, csv));
      }
    }
  }
  assert.deepEqual(leaks.slice(0, 3), [], `${leaks.length} leaks`);
  // The values were accepted and searched for, not all refused at the door.
  assert.ok((statuses.get(200) ?? 0) > HOSTILE.length * FILTERS.length * 5, JSON.stringify([...statuses]));
});

test('a filter_not on a hostile value returns exactly all of B and nothing else', async () => {
  for (const value of HOSTILE) {
    const path = `${base}?${range}&paginate=false&filter_not_caller_id_name=${encodeURIComponent(value)}`;
    const { status, body } = await get(path);
    assert.equal(status, 200, path);
    const rows = (JSON.parse(body) as { data: unknown[] }).data;
    assert.equal(rows.length, bInRange, path);
  }
});

test('hostile ids in the legs, detail and users paths leak nothing of A', async () => {
  const leaks: Leak[] = [];
  // Kazoo ids of the shared call's start (docs/decisions.md, "Kazoo ids"): a hostile call id in
  // a well-formed id reaches the lookup; the shared call id names B's own row.
  const start = new Date((nowG - GREGORIAN_OFFSET - 65) * 1000).toISOString();
  const cdrId = (callId: string) =>
    `${start.slice(0, 4)}${start.slice(5, 7)}-${callId}=in1-${start.slice(8, 10)}T${start.slice(11, 19).replaceAll(':', '')}`;
  for (const value of [...HOSTILE, 'shared-inter', 'shared-call']) {
    const id = encodeURIComponent(value);
    for (const path of [
      `${base}/legs/${id}`,
      `${base}/${encodeURIComponent(cdrId(value))}`,
      `${base}/legs/${encodeURIComponent(cdrId(value))}`,
      `${base}/${id}`,
      `/v2/accounts/${b.account_id}/users/${id}/cdrs?${range}`,
    ]) {
      const { status, body } = await get(path);
      assert.ok(status < 500, `${path}: ${status}`);
      leaks.push(...leaksIn(path, status, body, false));
    }
  }
  assert.deepEqual(leaks.slice(0, 3), [], `${leaks.length} leaks`);
  // The shared ids find B's own row, so the paths did search.
  const legs = await get(`${base}/legs/shared-inter`);
  assert.equal(legs.status, 200);
  assert.match(legs.body, /b-own/);
  for (const path of [`${base}/${cdrId('shared-call')}`, `${base}/legs/${cdrId('shared-call')}`]) {
    const own = await get(path);
    assert.equal(own.status, 200, path);
    assert.match(own.body, /b-own/);
    assert.doesNotMatch(own.body, /A-SECRET/);
  }
});

test('hostile DIDWW export filters export B rows only, or are refused', async () => {
  for (const value of ["1' or '1'='1", '$1', "$'", '\\', '%']) {
    const res = await fetch(`${server.base}/v3/exports`, {
      method: 'POST',
      headers: { 'Api-Key': b.api_key, 'Content-Type': 'application/vnd.api+json' },
      body: JSON.stringify({
        data: {
          type: 'exports',
          attributes: {
            export_type: 'cdr_in',
            filters: { year: THIS_YEAR, month: THIS_MONTH, did_number: value },
          },
        },
      }),
    });
    const text = await res.text();
    if (res.status === 422) continue;
    assert.equal(res.status, 201, text);
    const id = (JSON.parse(text) as { data: { id: string } }).data.id;
    const url = await server.exportFileUrl(b.api_key, id);
    const file = await fetch(url, { headers: { 'Api-Key': b.api_key } });
    const csv = gunzipSync(Buffer.from(await file.arrayBuffer())).toString('utf8');
    // No stored DID equals these values: the file is its header alone.
    assert.equal(csv.trim().split('\n').length, 1, `did_number=${value}`);
  }
});
