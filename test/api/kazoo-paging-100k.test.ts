// Issue acceptance: paging through a 3-month range of 100k generated CDRs with page_size=50
// returns each CDR exactly once, newest first, and the same set ascending.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GREGORIAN_OFFSET, KAZOO_ID } from '../../src/formats/kazoo.js';
import { generateCsv } from '../../src/ingest/generate.js';
import { importDidwwCsv } from '../../src/ingest/didww-csv.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, startServer } from '../helpers/server.js';

// Three whole months: the range rule is raised to cover them (CDREX_KAZOO_MAX_RANGE_S).
const server = await startServer(await createTestDatabase(), {
  worker: false,
  env: { CDREX_KAZOO_MAX_RANGE_S: String(100 * 86400) },
});
const account = await server.newAccount('paging');
const PER_MONTH = 33_334;
for (let back = 2; back >= 0; back--) {
  const month = new Date(Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() - back, 1));
  for (const [kind, rows] of [
    ['cdr_in', PER_MONTH - 10_000],
    ['cdr_out', 10_000],
  ] as const) {
    await importDidwwCsv(
      server.db.pool,
      generateCsv({ kind, month, rows, seed: 40 + back * 2 + (kind === 'cdr_out' ? 1 : 0) }),
      {
        accountId: account.account_id,
        kind,
      },
    );
  }
}
const total = Number((await server.db.pool.query('select count(*) from cdrs')).rows[0].count);
const from = Math.floor(
  new Date(Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() - 2, 1)).getTime() / 1000,
);
const to =
  Math.floor(
    new Date(Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() + 1, 1)).getTime() / 1000,
  ) - 1;
const range = `created_from=${from + GREGORIAN_OFFSET}&created_to=${to + GREGORIAN_OFFSET}&page_size=50`;

async function walk(extra: string): Promise<{ ids: string[] }> {
  const ids: string[] = [];
  let key: string | undefined;
  for (;;) {
    const url = `${server.base}/v2/accounts/${account.account_id}/cdrs?${range}${extra}${key ? `&start_key=${key}` : ''}`;
    const res = await fetch(url, { headers: { 'X-Auth-Token': account.api_key } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: { id: string }[]; next_start_key?: string };
    ids.push(...body.data.map((row) => row.id));
    key = body.next_start_key;
    if (!key) return { ids };
  }
}

test('100k CDRs over three months: each exactly once, newest first, and the same set ascending', async () => {
  assert.ok(total >= 100_000, `seeded ${total}`);
  // Both walks at once: they are independent, and each is mostly waiting on its requests.
  const [desc, asc] = await Promise.all([walk(''), walk('&ascending=true')]);
  assert.equal(desc.ids.length, total);
  assert.equal(new Set(desc.ids).size, total);
  // Newest first by start time (the stored time_start of each id).
  const { rows } = await server.db.pool.query<{ id: string; t: string }>(
    `select ${KAZOO_ID} as id, extract(epoch from time_start)::text as t from cdrs`,
  );
  const startOf = new Map(rows.map((r) => [r.id, Number(r.t)]));
  const starts = desc.ids.map((id) => startOf.get(id)!);
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i] <= starts[i - 1], `order at ${i}`);
  assert.equal(new Set(desc.ids.map((id) => id.slice(0, 6))).size, 3, 'three months');
  assert.deepEqual(asc.ids, [...desc.ids].reverse());
});
