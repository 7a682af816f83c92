// DIDWW 2026-04-16 compatibility: `from`/`to` in ISO 8601 (with `Z` or an offset, as DIDWW's own
// example sends them), echoed as `YYYY-MM-DD HH:MM:SS` UTC; `did_number` with or without `+`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const JSON_API = 'application/vnd.api+json';
const CURRENT = { 'X-DIDWW-API-Version': '2026-04-16' };

interface Doc {
  data: { id: string; attributes: { filters: Record<string, unknown> } };
  errors: { detail: string }[];
}

const server = await startServer(await createTestDatabase());
const alice = await server.newAccount('alice');
await server.seed(alice.account_id, 'cdr_in', 30);

/** `YYYY-MM-DD` of the current month's day `day` (UTC). */
const day = (d: number) =>
  `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

async function post(filters: Record<string, unknown>, headers: Record<string, string> = CURRENT) {
  const res = await fetch(`${server.base}/v3/exports`, {
    method: 'POST',
    headers: { 'Api-Key': alice.api_key, 'Content-Type': JSON_API, ...headers },
    body: JSON.stringify({ data: { type: 'exports', attributes: { export_type: 'cdr_in', filters } } }),
  });
  return { status: res.status, json: (await res.json()) as Doc };
}

async function storedRange(id: string) {
  const { rows } = await server.db.pool.query<{ range_from: Date; range_to: Date }>(
    'select range_from, range_to from exports where id = $1',
    [id],
  );
  return { from: rows[0].range_from.toISOString(), to: rows[0].range_to.toISOString() };
}

/** DIDWW's 422 entry for one attribute. */
const invalid = (field: string) => ({
  title: 'is invalid',
  detail: `${field} - is invalid`,
  code: '100',
  source: { pointer: `/data/attributes/${field}` },
  status: '422',
});

test('from/to with Z: accepted under 2026-04-16 and echoed as YYYY-MM-DD HH:MM:SS UTC', async () => {
  const created = await post({ from: `${day(1)}T00:00:00Z`, to: `${day(2)}T12:00:00.250Z` });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const echoed = { from: `${day(1)} 00:00:00`, to: `${day(2)} 12:00:00` };
  assert.deepEqual(created.json.data.attributes.filters, echoed);
  const shown = await fetch(`${server.base}/v3/exports/${created.json.data.id}`, {
    headers: { 'Api-Key': alice.api_key, ...CURRENT },
  });
  assert.deepEqual(((await shown.json()) as Doc).data.attributes.filters, echoed);
  assert.deepEqual(await storedRange(created.json.data.id), {
    from: `${day(1)}T00:00:00.000Z`,
    to: `${day(2)}T12:00:00.000Z`,
  });

  // Older versions keep today's behaviour: year and month, from/to not read.
  const older = await post(
    { from: `${day(1)}T00:00:00Z`, to: `${day(2)}T00:00:00Z` },
    {
      'X-DIDWW-API-Version': '2022-05-10',
    },
  );
  assert.equal(older.status, 422);
  assert.deepEqual(
    older.json.errors.map((e) => e.detail),
    ["filters.year - can't be blank", "filters.month - can't be blank"],
  );
});

test("from/to with an offset are converted to UTC; malformed ones get DIDWW's 422", async () => {
  const created = await post({ from: `${day(1)}T02:00:00+02:00`, to: `${day(3)}T06:30:00-0530` });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  assert.deepEqual(created.json.data.attributes.filters, {
    from: `${day(1)} 00:00:00`,
    to: `${day(3)} 12:00:00`,
  });
  assert.deepEqual(await storedRange(created.json.data.id), {
    from: `${day(1)}T00:00:00.000Z`,
    to: `${day(3)}T12:00:00.000Z`,
  });

  for (const bad of [
    `${day(1)}T00:00:00+24:00`,
    `${day(1)}T00:00:00+2:00`,
    `${day(1)}T00:00:00 CET`,
    'yesterday',
  ]) {
    const res = await post({ from: bad, to: `${day(2)}T00:00:00+01:00` });
    assert.equal(res.status, 422, bad);
    assert.deepEqual(res.json, { errors: [invalid('filters.from')] }, bad);
  }
  // An offset that puts `from` after `to` is caught after conversion.
  const reversed = await post({ from: `${day(2)}T01:00:00+02:00`, to: `${day(2)}T00:00:00+02:00` });
  assert.equal(reversed.status, 422);
  assert.deepEqual(reversed.json, { errors: [invalid('filters.to')] });
});

/** The Destination DID column of every row of a completed export's file. */
async function exportedDids(didNumber: string): Promise<string[]> {
  const created = await post({ year: THIS_YEAR, month: THIS_MONTH, did_number: didNumber }, {});
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const url = await server.exportFileUrl(alice.api_key, created.json.data.id);
  const file = await fetch(url, { headers: { 'Api-Key': alice.api_key } });
  const lines = zlib
    .gunzipSync(Buffer.from(await file.arrayBuffer()))
    .toString('utf8')
    .trim()
    .split('\n');
  const column = lines[0].split(',').indexOf('Destination DID');
  return lines.slice(1).map((line) => line.split(',')[column]);
}

test('did_number matches stored numbers with or without a leading +', async () => {
  // Two CDRs of the month get numbers of their own: one stored with +, one without.
  const { rows } = await server.db.pool.query<{ call_id: string }>(
    `select call_id from cdrs where account_id = $1 and kind = 'cdr_in' and time_start >= $2
      order by time_start limit 2`,
    [alice.account_id, MONTH_START],
  );
  assert.equal(rows.length, 2);
  const setDid = (callId: string, did: string) =>
    server.db.pool.query('update cdrs set did_number = $3 where account_id = $1 and call_id = $2', [
      alice.account_id,
      callId,
      did,
    ]);
  await setDid(rows[0].call_id, '+4930111111');
  await setDid(rows[1].call_id, '4930222222');

  assert.deepEqual(await exportedDids('4930111111'), ['+4930111111'], 'stored with +, asked without');
  assert.deepEqual(await exportedDids('+4930222222'), ['4930222222'], 'stored without +, asked with');
  assert.deepEqual(await exportedDids('+4930111111'), ['+4930111111'], 'the same spelling still matches');
});
