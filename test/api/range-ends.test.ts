// Promise (issue 12, ranges): which end of a time range is inclusive, in each dialect (README,
// "Time range and paging" and the DIDWW section).
// - Kazoo: created_from and created_to are both inclusive, as Kazoo's, and created_to covers its
//   whole second (time_start < created_to + 1 s). Monthly pulls ending at the last second of the
//   month meet exactly; pulls ending at 00:00:00 on the 1st both return a call starting then.
// - DIDWW: `from` is inclusive and `to` exclusive (time_start < to), so [1st, next 1st) pulls meet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { ensureMonthPartitions } from '../../src/store/partitions.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, startServer, waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const server = await startServer(db);
const account = await server.newAccount('ranges');

const M = MONTH_START.getTime(); // 00:00:00 UTC on the 1st of this month
const PREVIOUS = Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() - 1, 1);
/** Calls by start time: half a second before the month, exactly at its start, half a second in. */
const CALLS: Record<string, number> = {
  'last-half-second': M - 500,
  'at-midnight': M,
  'first-half-second': M + 500,
  'first-second-after': M + 1000,
};
await ensureMonthPartitions(db.pool, [new Date(PREVIOUS), new Date(M)]);
for (const [callId, start] of Object.entries(CALLS)) {
  await db.pool.query(
    `insert into cdrs (account_id, kind, time_start, call_id, status, source) values ($1, 'cdr_in', $2, $3, 'Success', 'test')`,
    [account.account_id, new Date(start), callId],
  );
}

const g = (ms: number) => Math.floor(ms / 1000) + GREGORIAN_OFFSET;

async function kazooIds(from: number, to: number): Promise<string[]> {
  const res = await fetch(
    `${server.base}/v2/accounts/${account.account_id}/cdrs?created_from=${from}&created_to=${to}&page_size=100`,
    { headers: { 'X-Auth-Token': account.api_key } },
  );
  assert.equal(res.status, 200);
  const body = (await res.json()) as { data: { call_id: string }[] };
  return body.data.map((d) => d.call_id).sort();
}

test('Kazoo: created_to covers its whole second; monthly pulls ending at the last second meet exactly', async () => {
  // The previous month, [first second, last second]: the call at 23:59:59.5 is in it.
  assert.deepEqual(await kazooIds(g(PREVIOUS), g(M) - 1), ['last-half-second']);
  // This month from its first second: the call at 00:00:00 and those after.
  assert.deepEqual(await kazooIds(g(M), g(M) + 3600), [
    'at-midnight',
    'first-half-second',
    'first-second-after',
  ]);
  // A range ending at 00:00:00 covers that whole second, both ends inclusive (as Kazoo): pulls
  // that end and start at the same second both return the calls of that second.
  assert.deepEqual(await kazooIds(g(PREVIOUS), g(M)), [
    'at-midnight',
    'first-half-second',
    'last-half-second',
  ]);
  assert.deepEqual(await kazooIds(g(M), g(M)), ['at-midnight', 'first-half-second']);
});

async function didwwExportIds(from: string, to: string): Promise<string[]> {
  const headers = {
    'Api-Key': account.api_key,
    'Content-Type': 'application/vnd.api+json',
    'X-DIDWW-API-Version': '2026-04-16',
  };
  const res = await fetch(`${server.base}/v3/exports`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      data: { type: 'exports', attributes: { export_type: 'cdr_in', filters: { from, to } } },
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { id } = ((await res.json()) as { data: { id: string } }).data;
  const url = await waitFor(async () => {
    const show = await fetch(`${server.base}/v3/exports/${id}`, { headers });
    return ((await show.json()) as { data: { attributes: { url: string | null } } }).data.attributes.url;
  }, `export ${id} to complete`);
  const file = await fetch(url, { headers: { 'Api-Key': account.api_key } });
  const lines = zlib
    .gunzipSync(Buffer.from(await file.arrayBuffer()))
    .toString('utf8')
    .trim()
    .split('\n');
  return lines
    .slice(1)
    .map((l) => l.slice(l.lastIndexOf(',') + 1))
    .sort();
}

test('DIDWW: `to` is exclusive; [1st, next 1st) pulls meet exactly', async () => {
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
  assert.deepEqual(await didwwExportIds(iso(PREVIOUS), iso(M)), ['last-half-second']);
  assert.deepEqual(await didwwExportIds(iso(M), iso(M + 3600_000)), [
    'at-midnight',
    'first-half-second',
    'first-second-after',
  ]);
});
