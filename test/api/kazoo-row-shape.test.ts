// Kazoo list rows, CSV and detail as Kazoo 4.3's cb_cdrs prints them (issue #13): times are the
// call's start (stored timestamp − duration), every column on every row ("" when empty) with
// Kazoo's types, money in Kazoo's units, hangup_cause derived from the SIP code when not stored,
// `imported` as true/false in CSV.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { GREGORIAN_OFFSET, HANGUP_CAUSE, sipHangupCause } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, NOW, startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const alice = await server.newAccount('shape');

/** Kazoo 4.3's list columns, in order (shared/spec/kazoo-cdrs.md), then cdrex's `imported`. */
const COLUMNS = [
  'id',
  'call_id',
  'caller_id_number',
  'caller_id_name',
  'callee_id_number',
  'callee_id_name',
  'duration_seconds',
  'billing_seconds',
  'timestamp',
  'hangup_cause',
  'other_leg_call_id',
  'owner_id',
  'to',
  'from',
  'direction',
  'request',
  'authorizing_id',
  'cost',
  'dialed_number',
  'calling_from',
  'datetime',
  'unix_timestamp',
  'rfc_1036',
  'iso_8601',
  'iso_8601_combined',
  'call_type',
  'rate',
  'rate_name',
  'bridge_id',
  'recording_url',
  'media_server',
  'call_priority',
  'interaction_id',
  'imported',
];
const INTEGERS = new Set(['duration_seconds', 'billing_seconds']);

// A start on a whole second, two hours back, so it is inside the range and the ingest window.
const startUnix = Math.floor(NOW.getTime() / 1000) - 7200;
const start = new Date(startUnix * 1000);
const endG = startUnix + 60 + GREGORIAN_OFFSET;
const range = `created_from=${startUnix - 600 + GREGORIAN_OFFSET}&created_to=${startUnix + 600 + GREGORIAN_OFFSET}`;

const SIP_CODES = ['486', '404', '487', '480', '603', '503', '200', '299'];

const seeded = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
  method: 'PUT',
  headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    data: [
      // Known start, 60 s long: Kazoo stores the end as `timestamp`.
      { call_id: 'timed', timestamp: String(endG), duration_seconds: '60', billing_seconds: '55' },
      // Only what an upload requires.
      { call_id: 'sparse', timestamp: String(startUnix + GREGORIAN_OFFSET + 1) },
      {
        call_id: 'money',
        timestamp: String(startUnix + GREGORIAN_OFFSET + 2),
        // Uploaded as a list row prints them: cost in units, rate in dollars.
        cost: '125',
        rate: '0.0123',
      },
      {
        call_id: 'whole-rate',
        timestamp: String(startUnix + GREGORIAN_OFFSET + 3),
        cost: '20000',
        rate: '1',
      },
      // Fractions of a unit: each row prints whole units, and so must the summary's sum.
      { call_id: 'fraction-a', timestamp: String(startUnix + GREGORIAN_OFFSET + 6), cost: '0.6' },
      { call_id: 'fraction-b', timestamp: String(startUnix + GREGORIAN_OFFSET + 7), cost: '0.6' },
      // Kazoo keeps the rate of a call in its custom channel variables, in units.
      {
        call_id: 'ccv-rate',
        timestamp: String(startUnix + GREGORIAN_OFFSET + 5),
        custom_channel_vars: { rate: '150' },
      },
      // A stored cause wins over the SIP code.
      {
        call_id: 'stored-cause',
        timestamp: String(startUnix + GREGORIAN_OFFSET + 4),
        hangup_cause: 'NORMAL_CLEARING',
        hangup_code: '486',
      },
      // Only a SIP code, as a DIDWW file or the generator gives it.
      ...SIP_CODES.map((code, i) => ({
        call_id: `sip-${code}`,
        timestamp: String(startUnix + GREGORIAN_OFFSET + 10 + i),
        hangup_code: code,
      })),
    ],
  }),
});
assert.equal(seeded.status, 201, await seeded.text());

async function get(query: string, accept?: string) {
  const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs${query}`, {
    headers: { 'X-Auth-Token': alice.api_key, ...(accept ? { Accept: accept } : {}) },
  });
  assert.equal(res.status, 200, query);
  return res.text();
}

async function listRows(query = ''): Promise<Map<string, Record<string, unknown>>> {
  const body = JSON.parse(await get(`?${range}&page_size=100${query}`)) as {
    data: Record<string, unknown>[];
  };
  return new Map(body.data.map((r) => [String(r.call_id), r]));
}

/** A CSV body as rows by call id, with its header. */
async function csvRows(query = ''): Promise<{ header: string[]; rows: Map<string, Record<string, string>> }> {
  const records = parse(await get(`?${range}${query}`, 'text/csv')) as string[][];
  const [header, ...lines] = records;
  const rows = new Map<string, Record<string, string>>();
  for (const cells of lines) {
    const row = Object.fromEntries(header.map((h, i) => [h, cells[i]]));
    rows.set(row.call_id, row);
  }
  return { header, rows };
}

async function detail(id: string): Promise<Record<string, unknown>> {
  const body = JSON.parse(await get(`/${encodeURIComponent(id)}`)) as { data: Record<string, unknown> };
  return body.data;
}

const pad = (n: number) => String(n).padStart(2, '0');
const dateTime = (d: Date) =>
  `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
  `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** The six time columns for the start, computed here from the Date (toUTCString is RFC 1123, the
 * same shape as Kazoo's kz_time:rfc1036). */
function expectedTimes(offsetS = 0) {
  return {
    timestamp: String(startUnix + GREGORIAN_OFFSET),
    unix_timestamp: String(startUnix),
    datetime: dateTime(new Date(start.getTime() + offsetS * 1000)),
    rfc_1036: start.toUTCString(),
    iso_8601: start.toISOString().slice(0, 10),
    iso_8601_combined: `${start.toISOString().slice(0, 19)}Z`,
  };
}
const pick = (row: Record<string, unknown>, keys: string[]) =>
  Object.fromEntries(keys.map((k) => [k, row[k]]));
const TIME_KEYS = Object.keys(expectedTimes());

describe('times are the call’s start', () => {
  test('list rows print the start, not the end', async () => {
    const row = (await listRows()).get('timed')!;
    assert.deepEqual(pick(row, TIME_KEYS), expectedTimes());
  });

  test('utc_offset shifts datetime only (col_pretty_print); iso_8601 stays the UTC date', async () => {
    // 13 h east of an afternoon start, or west of a morning one: the local date is another day
    // than the UTC one, so iso_8601 shows whether it took the offset.
    const offset = (startUnix % 86400 >= 43200 ? 13 : -13) * 3600;
    const row = (await listRows(`&utc_offset=${offset}`)).get('timed')!;
    assert.deepEqual(pick(row, TIME_KEYS), expectedTimes(offset));
    assert.notEqual(String(row.datetime).slice(0, 10), row.iso_8601);
    const csv = (await csvRows(`&utc_offset=${offset}`)).rows.get('timed')!;
    assert.deepEqual(pick(csv, TIME_KEYS), expectedTimes(offset));
  });

  test('CSV prints the start', async () => {
    const row = (await csvRows()).rows.get('timed')!;
    assert.deepEqual(pick(row, TIME_KEYS), expectedTimes());
  });

  test('detail derives its date fields from the start; the document keeps its own timestamp', async () => {
    const id = String((await listRows()).get('timed')!.id);
    const doc = await detail(id);
    const derived = TIME_KEYS.filter((k) => k !== 'timestamp');
    assert.deepEqual(pick(doc, derived), pick(expectedTimes(), derived));
    // Detail is the document as the switch sent it: Kazoo's own `timestamp` is the end.
    assert.equal(doc.timestamp, String(endG));
  });
});

describe('every column, every row, with Kazoo’s types', () => {
  test('a sparse CDR lists every column, "" when empty, integers as integers', async () => {
    const row = (await listRows()).get('sparse')!;
    assert.deepEqual(Object.keys(row), COLUMNS);
    for (const k of COLUMNS) {
      if (INTEGERS.has(k)) assert.equal(typeof row[k], 'number', k);
      else if (k === 'imported') assert.equal(row[k], true);
      else assert.equal(typeof row[k], 'string', k);
    }
    for (const k of [
      'caller_id_name',
      'callee_id_name',
      'hangup_cause',
      'owner_id',
      'to',
      'from',
      'request',
    ]) {
      assert.equal(row[k], '', k);
    }
    for (const k of [
      'rate_name',
      'bridge_id',
      'recording_url',
      'media_server',
      'call_priority',
      'interaction_id',
    ]) {
      assert.equal(row[k], '', k);
    }
    // customer_cost is 0 without billing; units_to_dollars(0) prints as an Erlang float.
    assert.equal(row.cost, '0');
    assert.equal(row.rate, '0.0');
  });

  test('CSV carries the same columns; empty cells are empty; imported is true/false', async () => {
    const { header, rows } = await csvRows();
    assert.deepEqual(header, COLUMNS);
    const sparse = rows.get('sparse')!;
    for (const k of ['caller_id_name', 'hangup_cause', 'owner_id', 'request', 'rate_name', 'interaction_id'])
      assert.equal(sparse[k], '', k);
    assert.equal(sparse.imported, 'true');
    assert.equal(sparse.cost, '0');
    assert.equal(sparse.rate, '0.0');
  });

  test('cost in units (1 USD = 10000), rate in dollars as Kazoo prints a float', async () => {
    const json = await listRows();
    const csv = (await csvRows()).rows;
    for (const rows of [json, csv] as Map<string, Record<string, unknown>>[]) {
      assert.equal(rows.get('money')!.cost, '125');
      assert.equal(rows.get('money')!.rate, '0.0123');
      assert.equal(rows.get('whole-rate')!.cost, '20000');
      assert.equal(rows.get('whole-rate')!.rate, '1.0');
      assert.equal(rows.get('ccv-rate')!.rate, '0.015');
    }
  });

  test('the summary’s cost is in the same units as the list’s', async () => {
    const res = await get(`/summary?${range}`);
    const { data } = JSON.parse(res) as { data: { cost: string } };
    const sum = [...(await listRows()).values()].reduce((s, r) => s + Number(r.cost), 0);
    assert.equal(data.cost, String(sum));
    assert.ok(sum > 0);
  });
});

describe('hangup_cause from the SIP code when none is stored', () => {
  test('list, CSV and detail print FreeSWITCH’s name for the code; a stored cause wins', async () => {
    const json = await listRows();
    const csv = (await csvRows()).rows;
    const expected: Record<string, string> = {
      'sip-486': 'USER_BUSY',
      'sip-404': 'UNALLOCATED_NUMBER',
      'sip-487': 'ORIGINATOR_CANCEL',
      'sip-480': 'NO_USER_RESPONSE',
      'sip-603': 'CALL_REJECTED',
      'sip-503': 'NORMAL_TEMPORARY_FAILURE',
      'sip-200': 'NORMAL_CLEARING',
      'sip-299': 'NORMAL_UNSPECIFIED',
      'stored-cause': 'NORMAL_CLEARING',
    };
    for (const [callId, cause] of Object.entries(expected)) {
      assert.equal(json.get(callId)!.hangup_cause, cause, callId);
      assert.equal(csv.get(callId)!.hangup_cause, cause, callId);
      assert.equal((await detail(String(json.get(callId)!.id))).hangup_cause, cause, callId);
    }
    for (const code of SIP_CODES) assert.equal(sipHangupCause(code), expected[`sip-${code}`], code);
  });

  test("CDRs loaded from a DIDWW CSV (the generator's) all show the cause of their SIP code", async () => {
    const didww = await server.newAccount('didww');
    const inserted = await server.seed(didww.account_id, 'cdr_out', 40, 7);
    const q = new URLSearchParams({
      created_from: String(Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET),
      // The generator spreads the rows over the whole month: ask for all 31 days of it.
      created_to: String(Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET + 31 * 86400 - 1),
      page_size: '100',
    });
    const res = await fetch(`${server.base}/v2/accounts/${didww.account_id}/cdrs?${q}`, {
      headers: { 'X-Auth-Token': didww.api_key },
    });
    const shown = ((await res.json()) as { data: { hangup_cause: string }[] }).data.map(
      (r) => r.hangup_cause,
    );
    const { rows } = await server.db.pool.query<{ code: string | null }>(
      'select disconnect_code as code from cdrs where account_id = $1 and hangup_cause is null',
      [didww.account_id],
    );
    assert.equal(rows.length, inserted, 'the file stored no cause');
    assert.equal(shown.length, inserted);
    assert.ok(
      shown.every((c) => c !== ''),
      shown.join(),
    );
    assert.deepEqual([...shown].sort(), rows.map((r) => sipHangupCause(r.code)).sort());
  });

  test('the filter matches what is printed', async () => {
    const busy = await listRows('&filter_hangup_cause=USER_BUSY');
    assert.deepEqual([...busy.keys()].sort(), ['sip-486']);
    const notBusy = await listRows('&filter_not_hangup_cause=USER_BUSY');
    assert.ok(notBusy.has('stored-cause') && !notBusy.has('sip-486'));
    const missing = await listRows('&key_missing=hangup_cause');
    assert.deepEqual([...missing.keys()].sort(), [
      'ccv-rate',
      'fraction-a',
      'fraction-b',
      'money',
      'sparse',
      'timed',
      'whole-rate',
    ]);
  });

  test('migration 000008 indexes the very expression the filter uses', () => {
    const migration = readFileSync(
      new URL('../../src/store/migrations/000008_hangup_cause_shown.sql', import.meta.url),
      'utf8',
    );
    const flat = (s: string) => s.replace(/\s+/g, ' ');
    assert.ok(flat(migration).includes(`(${flat(HANGUP_CAUSE)})`), 'the index expression is HANGUP_CAUSE');
  });
});
