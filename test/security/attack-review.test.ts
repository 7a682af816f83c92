// Findings of the attack review (docs/security.md) that were not about another tenant's rows:
// requests that made the server answer 500, and filters that grew PostgreSQL's memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { listPage } from '../../src/search/cdr-search-service.js';
import type { AccountDb } from '../../src/store/account-db.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, NOW, startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const account = await server.newAccount('review');
await server.seed(account.account_id, 'cdr_in', 50, 1);
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const range = `created_from=${Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET}&created_to=${nowG}`;

async function get(query: string): Promise<Response> {
  return fetch(`${server.base}/v2/accounts/${account.account_id}/cdrs?${query}`, {
    headers: { 'X-Auth-Token': account.api_key },
  });
}

const startKey = (t: string) => Buffer.from(JSON.stringify([t, 'x', 1, 'cdr_in'])).toString('base64url');

test('requests that answered 500 get a 4xx or their answer', async () => {
  const cases: [string, number][] = [
    // JavaScript parses these dates; PostgreSQL refuses them.
    [`${range}&start_key=${startKey('+275760-09-13T00:00:00.000Z')}`, 400],
    [`${range}&start_key=${startKey('-271821-04-20T00:00:00.000Z')}`, 400],
    [`${range}&accept=csv&start_key=${startKey('+275760-09-13T00:00:00.000Z')}`, 400],
    // A file name a header cannot carry.
    [`${range}&accept=csv&file_name=%E2%82%AC`, 200],
    [`${range}&accept=csv&file_name=%01`, 200],
    // More values than a query may hold (target lists have at most 1664 entries).
    [
      `${range}&accept=csv&filter_custom_channel_vars.a=${encodeURIComponent(JSON.stringify(Array(1700).fill(1)))}`,
      400,
    ],
    [`${range}&filter_caller_id_number=${encodeURIComponent(JSON.stringify(Array(101).fill('1')))}`, 400],
    // Ranges outside what PostgreSQL and JavaScript dates share; nothing is stored there.
    ['created_from=1&created_to=1&accept=csv', 200],
    ['created_from=8000000000000&created_to=8000000000000&accept=csv', 200],
    ['created_from=-62167219200&created_to=-62167219200&accept=csv', 200],
  ];
  for (const [query, status] of cases) {
    const res = await get(query);
    const body = await res.text();
    assert.equal(res.status, status, `${query.slice(0, 120)}: ${body.slice(0, 200)}`);
    if (status === 200 && query.includes('accept=csv')) {
      assert.match(body, /^id,call_id,/);
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="[ -~]+"$/);
    }
  }
});

test('up to 100 values per filter are accepted', async () => {
  const res = await get(
    `${range}&filter_caller_id_number=${encodeURIComponent(JSON.stringify(Array(100).fill('1')))}`,
  );
  assert.equal(res.status, 200);
});

test('filtered pages run as unnamed statements: no per-shape statement stays in a connection', async () => {
  const seen: unknown[] = [];
  const record = async (config: unknown) => {
    seen.push(config);
    return { rows: [] };
  };
  // Pages go through read() (a read-only transaction); query() too, should that change.
  const db = { accountId: account.account_id, query: record, read: record } as unknown as AccountDb;
  const search = { accountId: account.account_id, from: MONTH_START, to: NOW };
  await listPage(db, { ...search, conditions: [{ op: 'eq', key: 'call_id', values: ['a', 'b'] }] }, 10);
  await listPage(db, { ...search, conditions: [] }, 10);
  const names = seen.map((c) =>
    typeof c === 'object' && c !== null ? (c as { name?: string }).name : undefined,
  );
  assert.equal(names[0], undefined, 'a filtered page is not a named statement');
  assert.match(String(names[1]), /^cdrs_/, 'the unfiltered page keeps its named statement');
});
