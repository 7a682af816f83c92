// `cdrex accounts mask`: callers' numbers show their last N digits as X in the Kazoo list, detail
// and CSV (so in the portal, which reads that API); the summary is unchanged; filtering by the full
// number still works (display only); DIDWW files stay byte-exact unless --exports; --digits 0 is off.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createOperatorToken } from '../../src/store/queries/admin.js';
import { cdrex, summary } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer, testEnv, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const CALLER = '+442079460123';
const MASKED = '+44207946XXXX';
const CALLEE = '+15005550100';
const db = await createTestDatabase();
const server = await startServer(db);
const env = testEnv(db, server.config.dataDir);
const alice = await server.newAccount('alice');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;

async function kazoo(suffix: string, csv = false) {
  const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs${suffix}`, {
    headers: { 'X-Auth-Token': alice.api_key, Accept: csv ? 'text/csv' : 'application/json' },
  });
  assert.equal(res.status, 200);
  return res.text();
}

const put = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
  method: 'PUT',
  headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    data: [1, 2, 3].map((i) => ({
      call_id: `mask-${i}`,
      timestamp: String(nowG - 3600 - i * 60),
      duration_seconds: '30',
      billing_seconds: '25',
      direction: 'inbound',
      caller_id_number: CALLER,
      caller_id_name: CALLER,
      callee_id_number: CALLEE,
      from_uri: `${CALLER}@pbx.example.com`,
      x_caller: { profile: { number: CALLER } },
    })),
  }),
});
assert.equal(put.status, 201, await put.text());
await server.seed(alice.account_id, 'cdr_in', 30);

async function didwwFile(): Promise<string> {
  const id = await server.createExport(alice.api_key, {
    export_type: 'cdr_in',
    filters: { year: String(THIS_YEAR), month: String(THIS_MONTH).padStart(2, '0') },
  });
  const res = await fetch(await server.exportFileUrl(alice.api_key, id), {
    headers: { 'Api-Key': alice.api_key },
  });
  return zlib.gunzipSync(Buffer.from(await res.arrayBuffer())).toString('utf8');
}

async function mask(...args: string[]) {
  const r = await cdrex(['accounts', 'mask', '--account', alice.account_id, ...args], env);
  assert.equal(r.code, 0, r.stderr);
  return summary(r);
}

const range = `?created_from=${nowG - 86400}&created_to=${nowG}`;
const unmaskedList = await kazoo(`${range}&filter_caller_id_number=${encodeURIComponent(CALLER)}`);
const summaryData = async () => (JSON.parse(await kazoo(`/summary${range}`)) as { data: unknown }).data;
const unmaskedSummary = await summaryData();
const unmaskedFile = await didwwFile();

test('masked: the Kazoo list, detail and CSV show the caller with its last digits as X', async () => {
  assert.ok(unmaskedList.includes(CALLER));
  assert.deepEqual(await mask('--digits', '4'), {
    account_id: alice.account_id,
    mask_digits: 4,
    mask_exports: false,
  });
  // Display only: the full number still finds the rows.
  const list = JSON.parse(await kazoo(`${range}&filter_caller_id_number=${encodeURIComponent(CALLER)}`)) as {
    data: Record<string, string>[];
  };
  assert.equal(list.data.length, 3);
  for (const row of list.data) {
    assert.equal(row.caller_id_number, MASKED);
    assert.equal(row.caller_id_name, MASKED);
    assert.equal(row.calling_from, MASKED);
    assert.equal(row.from, `${MASKED}@pbx.example.com`);
    assert.equal(row.callee_id_number, CALLEE, 'the callee is not a caller');
    const detail = await kazoo(`/${row.id}`);
    assert.ok(!detail.includes(CALLER.slice(1)), detail);
    assert.ok(detail.includes(`"number":"${MASKED}"`), 'nested caller fields are masked too');
  }
  const csv = await kazoo(range, true);
  assert.ok(!csv.includes(CALLER.slice(1)));
  assert.ok(csv.includes(MASKED));
  assert.deepEqual(await summaryData(), unmaskedSummary, 'the summary is not affected');
});

test('DIDWW files stay byte-exact unless --exports, which masks the Source column', async () => {
  await mask('--digits', '4');
  assert.equal(await didwwFile(), unmaskedFile);
  assert.deepEqual(await mask('--digits', '4', '--exports'), {
    account_id: alice.account_id,
    mask_digits: 4,
    mask_exports: true,
  });
  const masked = await didwwFile();
  assert.ok(unmaskedFile.includes(CALLER) && !masked.includes(CALLER.slice(1)));
  assert.ok(masked.includes(MASKED));
  assert.equal(masked.split('\n').length, unmaskedFile.split('\n').length);
});

test('--digits 0 turns masking off; bad values are usage errors', async () => {
  assert.deepEqual(await mask('--digits', '0'), {
    account_id: alice.account_id,
    mask_digits: 0,
    mask_exports: false,
  });
  assert.ok((await kazoo(range)).includes(CALLER));
  assert.equal(await didwwFile(), unmaskedFile);
  for (const bad of ['11', '-1', 'x']) {
    const r = await cdrex(['accounts', 'mask', '--account', alice.account_id, '--digits', bad], env);
    assert.equal(r.code, 2, bad);
  }
});

test('the operators API sets masking too; every change, CLI or API, is audited with who did it', async () => {
  const { token } = await createOperatorToken(db.worker, 'billing', { actor: 'test' });
  const patch = async (body: unknown) => {
    const res = await fetch(`${server.base}/admin/v1/accounts/${alice.account_id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { data: Record<string, unknown> } };
  };
  const on = await patch({ mask_digits: 4 });
  assert.equal(on.status, 200);
  assert.equal(on.body.data.mask_digits, 4);
  assert.equal(on.body.data.mask_exports, false);
  const list = await kazoo(`${range}&filter_caller_id_number=${encodeURIComponent(CALLER)}`);
  assert.ok(list.includes(MASKED) && !list.includes(CALLER.slice(1)));
  assert.equal((await patch({ mask_digits: 11 })).status, 400);
  const off = await patch({ mask_digits: null, mask_exports: true });
  assert.deepEqual([off.body.data.mask_digits, off.body.data.mask_exports], [null, false]);
  assert.ok((await kazoo(range)).includes(CALLER));

  const { rows } = await db.pool.query<{ actor: string; detail: { to: Record<string, unknown> } }>(
    `select actor, detail from audit_log where account_id = $1::text and action = 'account.masking_changed'
      order by id`,
    [alice.account_id],
  );
  // The earlier tests' CLI changes (4; 4 with exports; off), then the API's (4; off).
  assert.deepEqual(
    rows.map((r) => [r.actor, r.detail.to.mask_digits, r.detail.to.mask_exports]),
    [
      ['cli', 4, false],
      ['cli', 4, true],
      ['cli', null, false],
      ['operator:billing', 4, false],
      ['operator:billing', null, false],
    ],
  );
});
