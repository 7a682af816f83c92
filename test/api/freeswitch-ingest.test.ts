// POST /ingest/freeswitch with a real mod_json_cdr body, in its three encodings; the CDR then
// appears in the Kazoo API with the switch's fields, and in the DIDWW export of its month.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const server = await startServer(await createTestDatabase());
const account = await server.newAccount('pbx');
const other = await server.newAccount('other');
const sampleText = fs.readFileSync(
  path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'),
  'utf8',
);
const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

function post(body: string, type: string, auth = basic(account.account_id, account.api_key)) {
  return fetch(`${server.base}/ingest/freeswitch`, {
    method: 'POST',
    headers: { Authorization: auth, 'Content-Type': type },
    body,
  });
}

/** The sample moved to now, with a new uuid, so it falls in the current month. */
function recent(uuid: string, direction = 'inbound'): string {
  const doc = JSON.parse(sampleText) as {
    variables: Record<string, string>;
    channel_data: Record<string, string>;
  };
  const start = BigInt(NOW.getTime() - 60_000) * 1000n;
  doc.variables.uuid = uuid;
  doc.variables.start_uepoch = String(start);
  doc.variables.answer_uepoch = String(start + 2_000_000n);
  doc.variables.end_uepoch = String(start + 6_000_000n);
  doc.variables.cdrex_direction = direction;
  doc.variables.cdrex_trunk_id = '457bf47d-446d-41cd-91c3-dfbda7bf0753';
  return JSON.stringify(doc);
}

test('the real sample, as JSON: stored once, shown with the switch fields, times from *_uepoch', async () => {
  const res = await post(sampleText, 'application/json');
  assert.equal(res.status, 200);
  // The answer names the stored CDR (its Kazoo id and start), so an operator finds a test post;
  // a second post of it says it was a duplicate of that same CDR.
  const id = '201308-01df56f4-d99a-4ef6-b7fe-b924b2415b7f=in1-04T095054.385581';
  assert.deepEqual(await res.json(), {
    inserted: 1,
    duplicates: 0,
    duplicate: false,
    id,
    time_start: '2013-08-04T09:50:54.385581Z',
  });
  const again = await post(sampleText, 'application/json');
  assert.deepEqual(await again.json(), {
    inserted: 0,
    duplicates: 1,
    duplicate: true,
    id,
    time_start: '2013-08-04T09:50:54.385581Z',
  });

  // The sample is from August 2013: ask for its range.
  const start = 1375609854 + GREGORIAN_OFFSET;
  const list = await fetch(
    `${server.base}/v2/accounts/${account.account_id}/cdrs?created_from=${start - 3600}&created_to=${start + 3600}`,
    { headers: { 'X-Auth-Token': account.api_key } },
  );
  const rows = ((await list.json()) as { data: Record<string, unknown>[] }).data;
  assert.equal(rows.length, 1);
  const row = rows[0];
  assert.equal(row.call_id, '01df56f4-d99a-4ef6-b7fe-b924b2415b7f');
  // YYYYMM-<call_id>=<in|out><attempt>-<DD>T<HHMMSS>[.<µs>] of its start (start_uepoch).
  assert.equal(row.id, id);
  assert.equal(row.other_leg_call_id, '8f7c860f-0619-4d3c-9515-cc23b0fa3997');
  assert.equal(row.hangup_cause, 'NORMAL_CLEARING');
  assert.equal(row.duration_seconds, 6);
  assert.equal(row.billing_seconds, 4);
  assert.equal(row.from, 'dan@ipbx.itsyscom.com');
  assert.equal(row.to, '+4986517174963@ipbx.itsyscom.com');
  // Kazoo prints the call's start (its timestamp − duration), as a string.
  assert.equal(row.unix_timestamp, '1375609854', 'start_uepoch, UTC');
  assert.equal(row.imported, false, 'switch CDRs are not imported');

  const detail = await fetch(`${server.base}/v2/accounts/${account.account_id}/cdrs/${row.id}`, {
    headers: { 'X-Auth-Token': account.api_key },
  });
  const doc = ((await detail.json()) as { data: Record<string, unknown> }).data;
  assert.equal(doc.sip_network_ip, '2.3.4.5');
  assert.equal(doc.remote_media_ip, '1.2.3.4');
  assert.equal(doc['core-uuid'], '844715f9-d8a1-44d6-a4bf-358bec5e10b8');
  assert.equal((doc.variables as Record<string, string>).sip_user_agent, 'Jitsi2.2.4603.9615Linux');
});

test('form-encoded and base64 bodies, and the callflow as an array', async () => {
  const form = await post(
    `cdr=${encodeURIComponent(recent('fs-form-1'))}`,
    'application/x-www-form-urlencoded',
  );
  assert.equal(form.status, 200);
  const formAnswer = (await form.json()) as Record<string, unknown>;
  assert.equal(formAnswer.inserted, 1);
  assert.equal(formAnswer.duplicates, 0);
  // The id the answer gives opens the CDR in the Kazoo API, whole seconds and all.
  const found = await fetch(
    `${server.base}/v2/accounts/${account.account_id}/cdrs/${String(formAnswer.id)}`,
    { headers: { 'X-Auth-Token': account.api_key } },
  );
  assert.equal(found.status, 200, String(formAnswer.id));
  const foundDoc = ((await found.json()) as { data: Record<string, unknown> }).data;
  assert.equal((foundDoc.variables as Record<string, string>).uuid, 'fs-form-1');
  assert.match(String(formAnswer.id), /^\d{6}-fs-form-1=in1-\d{2}T\d{6}/);
  // start_uepoch, microseconds written out.
  const start = new Date(NOW.getTime() - 60_000).toISOString();
  assert.equal(formAnswer.time_start, start.replace('Z', '000Z'));
  const b64 = await post(
    `cdr=${Buffer.from(recent('fs-b64-1')).toString('base64')}`,
    'application/x-www-form-base64-encoded',
  );
  assert.equal(b64.status, 200);
  assert.equal(((await b64.json()) as { inserted: number }).inserted, 1);
  const arrayFlow = JSON.parse(recent('fs-array-1')) as { callflow: unknown };
  arrayFlow.callflow = [arrayFlow.callflow];
  const arr = await post(JSON.stringify(arrayFlow), 'application/json');
  assert.equal(((await arr.json()) as { inserted: number }).inserted, 1);
});

test('wrong credentials get 401; a body without variables gets 400 and stores nothing', async () => {
  for (const auth of [
    basic(account.account_id, 'wrong'),
    basic(other.account_id, account.api_key),
    'Bearer x',
    '',
  ]) {
    assert.equal((await post(sampleText, 'application/json', auth)).status, 401);
  }
  assert.equal((await post('{"hello":1}', 'application/json')).status, 400);
  assert.equal((await post('cdr=not-json', 'application/x-www-form-urlencoded')).status, 400);
});

test('a switch CDR appears in the DIDWW export of its kind', async () => {
  await post(recent('fs-export-in'), 'application/json');
  await post(recent('fs-export-out', 'outbound'), 'application/json');
  for (const [type, callId, filters] of [
    ['cdr_in', 'fs-export-in', {}],
    ['cdr_out', 'fs-export-out', { 'voice_out_trunk.id': '457bf47d-446d-41cd-91c3-dfbda7bf0753' }],
  ] as const) {
    const id = await server.createExport(account.api_key, {
      export_type: type,
      filters: { year: THIS_YEAR, month: THIS_MONTH, ...filters },
    });
    const url = await server.exportFileUrl(account.api_key, id);
    const file = await fetch(url, { headers: { 'Api-Key': account.api_key } });
    const csv = zlib.gunzipSync(Buffer.from(await file.arrayBuffer())).toString('utf8');
    const line = csv.split('\n').find((l) => l.endsWith(`,${callId}`));
    assert.ok(line, `${callId} in the ${type} export`);
    assert.ok(line.includes(',Success,'));
  }
});
