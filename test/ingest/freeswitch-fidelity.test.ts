// What a FreeSWITCH post keeps: the microseconds of its `*_uepoch` times, and the originating
// caller profile (lowest profile_index) however `callflow` arrives: as mod_json_cdr's array
// (newest profile first), as its older repeated key, or as one object.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer } from '../helpers/server.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const account = await server.newAccount('pbx');
const fixture = (name: string) => fs.readFileSync(path.join(ROOT, 'test', 'fixtures', name), 'utf8');
/** The real sample as the switch sent it: `callflow` twice, the transferred profile first. */
const repeatedKey = fixture('freeswitch-mod_json_cdr.json');
/** The same CDR with its two callflows as an array, in the switch's order (profile 2, then 1). */
const arrayForm = fixture('freeswitch-mod_json_cdr-callflow-array.json');
const auth = `Basic ${Buffer.from(`${account.account_id}:${account.api_key}`).toString('base64')}`;

type Cdr = { variables: Record<string, string>; callflow: unknown };

/** Posts `body` with its uuid replaced, so each case stores a row of its own. */
async function post(body: string, uuid: string): Promise<void> {
  const res = await fetch(`${server.base}/ingest/freeswitch`, {
    method: 'POST',
    headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: body.replaceAll('01df56f4-d99a-4ef6-b7fe-b924b2415b7f', uuid),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const answer = JSON.parse(text) as { inserted: number; duplicates: number; id: string };
  assert.deepEqual([answer.inserted, answer.duplicates], [1, 0]);
  assert.ok(answer.id.includes(`-${uuid}=`), `the answer names the stored CDR: ${answer.id}`);
}

async function stored(uuid: string) {
  const { rows } = await db.pool.query(
    `select did_number, destination, source_number, source_name,
            (extract(epoch from time_start) * 1000000)::bigint::text as start_us,
            (extract(epoch from time_connect) * 1000000)::bigint::text as connect_us,
            (extract(epoch from time_end) * 1000000)::bigint::text as end_us
       from cdrs where account_id = $1 and call_id = $2`,
    [account.account_id, uuid],
  );
  assert.equal(rows.length, 1);
  return rows[0] as Record<string, string>;
}

test('start, answer and end keep their microseconds', async () => {
  const doc = JSON.parse(repeatedKey) as Cdr;
  // The sample's own uepochs, with non-zero microseconds beyond the millisecond.
  const { start_uepoch, answer_uepoch, end_uepoch } = doc.variables;
  for (const t of [start_uepoch, answer_uepoch, end_uepoch]) assert.notEqual(BigInt(t) % 1000n, 0n);
  await post(repeatedKey, 'fidelity-micros');
  const row = await stored('fidelity-micros');
  assert.equal(row.start_us, start_uepoch);
  assert.equal(row.connect_us, answer_uepoch);
  assert.equal(row.end_us, end_uepoch);
});

const ORIGINATING = { did_number: '+4986517174963', destination: '+4986517174963', source_name: 'dan' };
const pick = (row: Record<string, string>) => ({
  did_number: row.did_number,
  destination: row.destination,
  source_name: row.source_name,
});

test('callflow as an array (the real sample, newest profile first): the originating profile', async () => {
  await post(arrayForm, 'fidelity-array');
  assert.deepEqual(pick(await stored('fidelity-array')), ORIGINATING, 'not the transferred profile (dan)');
});

test('callflow as an array, oldest first: still the lowest profile_index, not a position', async () => {
  const doc = JSON.parse(arrayForm) as Cdr;
  doc.callflow = [...(doc.callflow as unknown[])].reverse();
  await post(JSON.stringify(doc), 'fidelity-array-reversed');
  assert.deepEqual(pick(await stored('fidelity-array-reversed')), ORIGINATING);
});

/** The array form's CDR with `callflow` written once per profile, in the order given. */
function repeated(flows: unknown[]): string {
  const rest: Partial<Cdr> = JSON.parse(arrayForm) as Cdr;
  delete rest.callflow;
  const keys = flows.map((f) => `"callflow":${JSON.stringify(f)}`).join(',');
  return `${JSON.stringify(rest).slice(0, -1)},${keys}}`;
}

async function storedProfiles(uuid: string): Promise<string[]> {
  const { rows } = await db.pool.query(
    `select jsonb_path_query_array(extra, '$.callflow[*].profile_index') as profiles
       from cdrs where account_id = $1 and call_id = $2`,
    [account.account_id, uuid],
  );
  return rows[0].profiles as string[];
}

test('callflow as a repeated key (the real sample as sent): the originating profile, and every profile kept', async () => {
  await post(repeatedKey, 'fidelity-repeated');
  assert.deepEqual(pick(await stored('fidelity-repeated')), ORIGINATING);
  // A JSON parser keeps only the last `callflow`; extra keeps both, in the switch's order.
  assert.deepEqual(await storedProfiles('fidelity-repeated'), ['2', '1']);
});

test('callflow as a repeated key, originating first: still the lowest profile_index', async () => {
  const flows = (JSON.parse(arrayForm) as Cdr).callflow as unknown[];
  await post(repeated([...flows].reverse()), 'fidelity-repeated-reversed');
  assert.deepEqual(pick(await stored('fidelity-repeated-reversed')), ORIGINATING);
  assert.deepEqual(await storedProfiles('fidelity-repeated-reversed'), ['1', '2']);
});

test('callflow as one object: its profile', async () => {
  const doc = JSON.parse(arrayForm) as Cdr;
  const transferred = (doc.callflow as Record<string, unknown>[])[0];
  doc.callflow = transferred;
  await post(JSON.stringify(doc), 'fidelity-single');
  const row = await stored('fidelity-single');
  assert.equal(row.destination, 'dan', 'the only profile there is');
  assert.equal(row.did_number, 'dan');
});

test('a body that is not JSON, or carries a __proto__ key, gets 400 and stores nothing', async () => {
  const count = async () =>
    (await db.pool.query('select count(*)::int as n from cdrs where account_id = $1', [account.account_id]))
      .rows[0].n as number;
  const before = await count();
  const poisoned = arrayForm
    .replace('"variables":{', '"variables":{"__proto__":{"x":"1"},')
    .replaceAll('01df56f4-d99a-4ef6-b7fe-b924b2415b7f', 'fidelity-poisoned');
  assert.notEqual(poisoned, arrayForm);
  for (const body of ['{"variables":', poisoned]) {
    const res = await fetch(`${server.base}/ingest/freeswitch`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body,
    });
    assert.equal(res.status, 400, body.slice(0, 40));
  }
  assert.equal(await count(), before);
});
