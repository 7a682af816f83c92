// `cdrex cdrs erase` and `POST /admin/v1/accounts/{id}/erasures`: after either, the number (with or without its +) appears nowhere in the
// account's data — Kazoo list, detail and CSV, DIDWW export files (the old one expired, a new one
// without it), the raw rows — while another account's copy of it stays; the pseudonym is the
// documented keyed hash, the same every run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { numberHash, pseudonymFor } from '../../src/lifecycle/erasure.js';
import { createOperatorToken } from '../../src/store/queries/admin.js';
import { cdrex, summary } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEY, NOW, startServer, testEnv, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const NUMBER = '+442079460123';
const DIGITS = NUMBER.slice(1);
const db = await createTestDatabase();
const server = await startServer(db);
const env = testEnv(db, server.config.dataDir);
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
const carol = await server.newAccount('carol');
const operator = await createOperatorToken(db.worker, 'privacy-desk', { actor: 'test' });
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;

/** Kazoo uploads where the number sits in every kind of place, in both spellings. */
function records(account: string) {
  const base = (i: number) => ({
    call_id: `erase-${i}`,
    timestamp: String(nowG - 3600 - i * 60),
    duration_seconds: '30',
    billing_seconds: '25',
    direction: 'inbound',
    callee_id_number: '+15005550100',
    custom_channel_vars: { account_id: account },
  });
  return [
    { ...base(1), caller_id_number: NUMBER, caller_id_name: NUMBER, from_uri: `${NUMBER}@pbx.example.com` },
    {
      ...base(2),
      caller_id_number: DIGITS,
      caller_id_name: 'Someone',
      from_uri: `sip:${DIGITS}@example.net`,
    },
    {
      ...base(3),
      caller_id_number: '+15005550199',
      callee_id_number: NUMBER,
      to_uri: `${DIGITS}@pbx.example.com`,
    },
    {
      ...base(4),
      caller_id_number: '+15005550198',
      x_notes: [{ deep: { who: `called by ${NUMBER} twice` } }],
    },
    // A longer number that merely contains the digits is someone else's: it stays.
    { ...base(5), caller_id_number: `${NUMBER}9`, caller_id_name: 'Other' },
  ];
}

async function upload(account: { account_id: string; api_key: string }) {
  const res = await fetch(`${server.base}/v2/accounts/${account.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': account.api_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: records(account.account_id) }),
  });
  assert.equal(res.status, 201, await res.text());
}

async function kazoo(account: { account_id: string; api_key: string }, suffix: string) {
  const res = await fetch(`${server.base}/v2/accounts/${account.account_id}/cdrs${suffix}`, {
    headers: {
      'X-Auth-Token': account.api_key,
      Accept: suffix.includes('csv') ? 'text/csv' : 'application/json',
    },
  });
  assert.equal(res.status, 200);
  return res.text();
}

/** Everything the Kazoo API shows of the account: every list row, every detail, the CSV. */
async function kazooEverything(account: { account_id: string; api_key: string }): Promise<string> {
  const list = JSON.parse(await kazoo(account, '?page_size=500')) as { data: { id: string }[] };
  assert.ok(list.data.length >= 5);
  const details = await Promise.all(list.data.map((r) => kazoo(account, `/${r.id}`)));
  const csv = await kazoo(account, '?page_size=500&accept=text/csv');
  return [JSON.stringify(list), ...details, csv].join('\n');
}

async function exportFile(apiKey: string): Promise<{ id: string; text: string; file: string }> {
  const id = await server.createExport(apiKey, {
    export_type: 'cdr_in',
    filters: { year: String(THIS_YEAR), month: String(THIS_MONTH).padStart(2, '0') },
  });
  const url = await server.exportFileUrl(apiKey, id);
  const res = await fetch(url, { headers: { 'Api-Key': apiKey } });
  assert.equal(res.status, 200);
  const text = zlib.gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8');
  const { rows } = await db.pool.query<{ file_name: string }>(
    'select file_name from export_files where export_id = $1::uuid',
    [id],
  );
  return { id, text, file: path.join(server.config.exportDir, rows[0].file_name) };
}

async function rowsMentioning(account: string, text: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    `select count(*) as n from cdrs c where c.account_id = $1::text and c::text like '%' || $2::text || '%'`,
    [account, text],
  );
  return Number(rows[0].n);
}

await upload(alice);
await upload(bob);
await upload(carol);
await server.seed(alice.account_id, 'cdr_in', 50);

test('erase removes the number from every CDR of the account, and from its export files', async () => {
  const before = await exportFile(alice.api_key);
  assert.ok(before.text.includes(DIGITS), 'the export held the number');
  assert.ok(fs.existsSync(before.file));
  assert.ok((await kazooEverything(alice)).includes(DIGITS));
  assert.equal(await rowsMentioning(alice.account_id, DIGITS), 5);
  const bobRows = await rowsMentioning(bob.account_id, DIGITS);

  const result = await cdrex(['cdrs', 'erase', '--account', alice.account_id, '--number', NUMBER], env);
  assert.equal(result.code, 0, result.stderr);
  const out = summary(result);
  const masterKey = TEST_MASTER_KEY;
  const pseudonym = pseudonymFor(masterKey, alice.account_id, NUMBER);
  assert.match(pseudonym, /^erased-[0-9a-f]{12}$/);
  assert.equal(out.pseudonym, pseudonym);
  assert.equal(out.cdrs, 4, 'the four CDRs holding the number whole');
  assert.equal(out.export_files, 1);
  assert.ok(!JSON.stringify(out).includes(DIGITS), 'the summary does not repeat the number');
  // Audited with the keyed hash, never the number.
  const audit = await db.pool.query<{ actor: string; detail: Record<string, unknown>; text: string }>(
    `select actor, detail, a::text as text from audit_log a where account_id = $1::text and action = 'cdrs.erased'`,
    [alice.account_id],
  );
  assert.equal(audit.rows.length, 1);
  assert.equal(audit.rows[0].actor, 'cli');
  assert.equal(audit.rows[0].detail.number_hash, numberHash(masterKey, alice.account_id, NUMBER));
  assert.equal(audit.rows[0].detail.pseudonym, pseudonym);
  assert.ok(!audit.rows[0].text.includes(DIGITS));

  // Raw rows (typed columns and jsonb): only the longer number keeps these digits.
  assert.equal(await rowsMentioning(alice.account_id, DIGITS), 1);
  assert.equal(await rowsMentioning(alice.account_id, `${DIGITS}9`), 1);
  assert.equal(await rowsMentioning(alice.account_id, pseudonym), 4);
  assert.equal(await rowsMentioning(bob.account_id, DIGITS), bobRows, "bob's CDRs are not touched");

  // Kazoo: list, every detail, CSV.
  const shown = (await kazooEverything(alice)).replaceAll(`${DIGITS}9`, '<other>');
  assert.ok(!shown.includes(DIGITS), shown.slice(0, 2000));
  assert.ok(shown.includes(pseudonym));

  // The export made before: completed, url null, its file gone.
  const show = await fetch(`${server.base}/v3/exports/${before.id}`, {
    headers: { 'Api-Key': alice.api_key },
  });
  const attrs = ((await show.json()) as { data: { attributes: Record<string, unknown> } }).data.attributes;
  assert.equal(String(attrs.status).toLowerCase(), 'completed');
  assert.equal(attrs.url, null);
  assert.ok(!fs.existsSync(before.file));

  // A new export of the same month has the pseudonym, not the number.
  const after = await exportFile(alice.api_key);
  assert.ok(!after.text.replaceAll(`${DIGITS}9`, '').includes(DIGITS));
  assert.ok(after.text.includes(pseudonym));
});

test('erasing again finds nothing more; the spelling without + names the same number', async () => {
  const again = await cdrex(['cdrs', 'erase', '--account', alice.account_id, '--number', DIGITS], env);
  assert.equal(again.code, 0, again.stderr);
  const out = summary(again);
  assert.equal(out.cdrs, 0);
  assert.equal(out.pseudonym, pseudonymFor(TEST_MASTER_KEY, alice.account_id, NUMBER));
});

test('erase refuses a malformed number and an unknown account', async () => {
  const bad = await cdrex(['cdrs', 'erase', '--account', alice.account_id, '--number', '12ab'], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /E\.164/);
  const unknown = await cdrex(['cdrs', 'erase', '--account', 'f'.repeat(32), '--number', NUMBER], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No account/);
});

/** POST /admin/v1/accounts/{id}/erasures with the operator token. */
async function eraseOverHttp(account: string, body: unknown) {
  const res = await fetch(`${server.base}/admin/v1/accounts/${account}/erasures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

test('the admin API erases a number: gone from the API, CSV, exports and jsonb; audited with the operator', async () => {
  const before = await exportFile(carol.api_key);
  assert.ok(before.text.includes(DIGITS));
  assert.equal(await rowsMentioning(carol.account_id, DIGITS), 5);

  const res = await eraseOverHttp(carol.account_id, { number: NUMBER });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const masterKey = TEST_MASTER_KEY;
  const pseudonym = pseudonymFor(masterKey, carol.account_id, NUMBER);
  assert.deepEqual(res.body.data, {
    account_id: carol.account_id,
    pseudonym,
    number_hash: numberHash(masterKey, carol.account_id, NUMBER),
    cdrs: 4,
    exports: 0, // no export's filters named it
    export_files: 1,
  });

  // Typed columns and jsonb: only the longer number keeps the digits.
  assert.equal(await rowsMentioning(carol.account_id, DIGITS), 1);
  assert.equal(await rowsMentioning(carol.account_id, pseudonym), 4);
  // Kazoo list, details and CSV.
  const shown = (await kazooEverything(carol)).replaceAll(`${DIGITS}9`, '<other>');
  assert.ok(!shown.includes(DIGITS), shown.slice(0, 2000));
  // The old export expired with its file; a new one carries the pseudonym.
  assert.ok(!fs.existsSync(before.file));
  const show = await fetch(`${server.base}/v3/exports/${before.id}`, {
    headers: { 'Api-Key': carol.api_key },
  });
  const attrs = ((await show.json()) as { data: { attributes: Record<string, unknown> } }).data.attributes;
  assert.equal(attrs.url, null);
  const after = await exportFile(carol.api_key);
  assert.ok(!after.text.replaceAll(`${DIGITS}9`, '').includes(DIGITS));
  assert.ok(after.text.includes(pseudonym));

  // The audit event: this operator, the client's address, the keyed hash and never the number.
  const audit = await fetch(`${server.base}/admin/v1/audit?account=${carol.account_id}&action=cdrs.erased`, {
    headers: { authorization: `Bearer ${operator.token}` },
  });
  const events = ((await audit.json()) as { data: Record<string, unknown>[] }).data;
  assert.equal(events.length, 1);
  assert.equal(events[0].actor, 'operator:privacy-desk');
  assert.match(String(events[0].address), /127\.0\.0\.1/);
  assert.equal((events[0].detail as Record<string, unknown>).pseudonym, pseudonym);
  assert.ok(!JSON.stringify(events).includes(DIGITS));
});

test('the admin API refuses a malformed number, an unknown field, an unknown account and an account key', async () => {
  const bad = await eraseOverHttp(carol.account_id, { number: '12ab' });
  assert.equal(bad.status, 400);
  assert.ok(!JSON.stringify(bad.body).includes('12ab'), 'the error does not echo the value');
  assert.equal((await eraseOverHttp(carol.account_id, { number: NUMBER, numbr: 'x' })).status, 400);
  const unknown = await eraseOverHttp('f'.repeat(32), { number: NUMBER });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error, /No account/);
  const withKey = await fetch(`${server.base}/admin/v1/accounts/${bob.account_id}/erasures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bob.api_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ number: NUMBER }),
  });
  assert.equal(withKey.status, 401);
  assert.ok((await rowsMentioning(bob.account_id, DIGITS)) > 0, "bob's CDRs keep the number");
});
