// Round 3 of the attack review (docs/security.md): the admin erasure and the masking PATCH added
// since 1890284, attacked with hostile values. Each must answer 4xx (never 500), touch only the
// account named, and a tenant's API key must not reach them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOperatorToken } from '../../src/store/queries/admin.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer } from '../helpers/server.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
const operator = await createOperatorToken(db.worker, 'round-3', { actor: 'test' });
const bearer = { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' };

async function admin(method: string, path: string, body: string, headers = bearer) {
  const res = await fetch(`${server.base}/admin/v1${path}`, { method, headers, body });
  return { status: res.status, text: await res.text() };
}

const hostile = [
  '$1',
  '%s',
  ':name',
  "1' or '1'='1",
  '\u0000',
  '15005550100\u0000',
  '\ud800',
  '1'.repeat(100_000),
  '.*',
  '+1500555(0|1)',
];

test('erasure: hostile numbers answer 400, never 500, and erase nothing', async () => {
  for (const number of hostile) {
    const r = await admin('POST', `/accounts/${alice.account_id}/erasures`, JSON.stringify({ number }));
    assert.ok(
      r.status === 400 || r.status === 413,
      `${JSON.stringify(number.slice(0, 20))}: ${r.status} ${r.text.slice(0, 200)}`,
    );
  }
  // Not JSON values at all.
  for (const body of ['{"number": ["15005550100"]}', '{"number":"15005550100","account_id":"x"}']) {
    const r = await admin('POST', `/accounts/${alice.account_id}/erasures`, body);
    assert.equal(r.status, 400, `${body}: ${r.text.slice(0, 200)}`);
  }
});

test('erasure: hostile account ids answer 404 without naming another account, never 500', async () => {
  const ids = [
    '$1',
    '%s',
    ':name',
    "x'--",
    '%00',
    '%ED%A0%80',
    `${alice.account_id}%00`,
    'a'.repeat(5000),
    '..%2F..%2Fetc',
  ];
  for (const id of ids) {
    const r = await admin('POST', `/accounts/${id}/erasures`, JSON.stringify({ number: '+15005550100' }));
    assert.ok([400, 404, 414].includes(r.status), `${id.slice(0, 30)}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.ok(!r.text.includes(bob.account_id) && !r.text.includes(alice.account_id));
  }
});

test("erasure: a tenant's API key, or none, cannot call it", async () => {
  const body = JSON.stringify({ number: '+15005550100' });
  for (const headers of [
    { authorization: `Bearer ${alice.api_key}`, 'content-type': 'application/json' },
    { 'x-auth-token': alice.api_key, 'content-type': 'application/json' },
    { 'content-type': 'application/json' },
  ]) {
    const r = await admin('POST', `/accounts/${bob.account_id}/erasures`, body, headers as typeof bearer);
    assert.equal(r.status, 401, r.text.slice(0, 200));
  }
  const audit = await fetch(`${server.base}/admin/v1/audit?account=${bob.account_id}&action=cdrs.erased`, {
    headers: { authorization: `Bearer ${operator.token}` },
  });
  assert.deepEqual((await audit.json()).data, [], 'no erasure was recorded for bob');
});

test('PATCH: 0, false and out-of-range values answer 400 and do not switch masking or retention off', async () => {
  const set = await admin(
    'PATCH',
    `/accounts/${alice.account_id}`,
    '{"mask_digits": 4, "retention_months": 12}',
  );
  assert.equal(set.status, 200, set.text);
  const common = ['0', 'false', '-1', '1e309', '2.5', '"$1"', '9007199254740993', '{}'];
  const cases: [string, string[]][] = [
    ['mask_digits', [...common, '11']],
    ['retention_months', [...common, '2', '1201']],
  ];
  for (const [field, values] of cases) {
    for (const value of values) {
      const r = await admin('PATCH', `/accounts/${alice.account_id}`, `{"${field}": ${value}}`);
      assert.equal(r.status, 400, `${field} ${value}: ${r.text.slice(0, 200)}`);
    }
  }
  const shown = await fetch(`${server.base}/admin/v1/accounts/${alice.account_id}`, {
    headers: { authorization: `Bearer ${operator.token}` },
  });
  const { data } = await shown.json();
  assert.equal(data.mask_digits, 4);
  assert.equal(data.retention_months, 12);
  // null still switches them off, as documented.
  const off = await admin(
    'PATCH',
    `/accounts/${alice.account_id}`,
    '{"mask_digits": null, "retention_months": null}',
  );
  assert.equal(off.status, 200, off.text);
  assert.equal(JSON.parse(off.text).data.mask_digits, null);
});
