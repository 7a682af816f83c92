// Callback secrets (DIDWW 2026-04-16): an enabled secret signs callbacks, else the API key does.
// The receiver below checks signatures as a DIDWW SDK's RequestValidator does, with its own
// implementation of the contract's algorithm (proven on the contract's test vectors), not cdrex's.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cdrex, summary, type CliResult } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, testEnv, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';

// --- The receiver's side: the contract's algorithm, written independently of src/callbacks. ---

function normalizedUrl(raw: string): string {
  const url = new URL(raw);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const user = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
  return `${url.protocol}//${user}${url.hostname}:${port}${url.pathname}${url.search}${url.hash}`;
}

function hmacHex(key: string, data: string): string {
  return createHmac('sha1', key).update(data, 'utf8').digest('hex');
}

function expectedSignature(key: string, url: string, params: Record<string, string>): string {
  const sorted = Object.keys(params)
    .sort()
    .map((k) => k + params[k])
    .join('');
  return hmacHex(key, normalizedUrl(url) + sorted);
}

/** What an SDK's RequestValidator(callback_secret).validate(url, payload, signature) answers. */
function validates(key: string, url: string, params: Record<string, string>, signature: string): boolean {
  const expected = Buffer.from(expectedSignature(key, url, params));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The contract's test vectors (shared/spec/didww-v3-exports.md), the key read as a callback secret. */
function assertSpecVectors(): void {
  assert.equal(
    hmacHex(
      'szrdgh6547umt7tht7xbqhj6g9gdbyp7',
      'https://mycompany.com:443/didww_callbacks?opaque=123idbf2cee72-6caa-4ae2-917e-bea01945691estatuscompletedtypeorders',
    ),
    '30f66e9d72eb5e193051fd02952f70d8e934b4ff',
  );
  const order = { id: '1dd7a68b-e235-402b-8912-fe73ee14243a', status: 'completed', type: 'orders' };
  assert.ok(
    validates(
      'SOMEAPIKEY',
      'http://example.com/callbacks',
      order,
      'fe99e416c3547f2f59002403ec856ea386d05b2f',
    ),
  );
  assert.ok(
    validates(
      'OTHERAPIKEY',
      'http://example.com/callbacks?foo=bar#baz',
      order,
      '32754ba93ac1207e540c0cf90371e7786b3b1cde',
    ),
  );
  const verification = {
    id: '7ae7c48f-d48a-499f-9dc1-c9217014b457',
    reject_reason: '',
    status: 'approved',
    type: 'address_verifications',
  };
  assert.ok(
    validates(
      'SOMEAPIKEY',
      `http://example.com/callback.php?${new URLSearchParams(verification).toString()}`,
      verification,
      '18050028b6b22d0ed516706fba1c1af8d6a8f9d5',
    ),
  );
  assert.ok(
    !validates(
      'OTHERAPIKEY',
      'http://example.com/callbacks',
      order,
      'fe99e416c3547f2f59002403ec856ea386d05b2f',
    ),
  );
}

interface Hit {
  method: string;
  /** The URL as delivered (what a receiver's framework calls its original URL). */
  url: string;
  params: Record<string, string>;
  signature: string;
}

/** A callback receiver on loopback; it records each request as a receiver would see it. */
async function receiver() {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = `http://127.0.0.1:${port}${req.url}`;
      const params = Object.fromEntries(
        req.method === 'GET' ? new URL(url).searchParams : new URLSearchParams(body),
      );
      hits.push({ method: req.method!, url, params, signature: String(req.headers['x-didww-signature']) });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  after(() => server.close());
  const { port } = server.address() as { port: number };
  return { hits, url: (p: string) => `http://127.0.0.1:${port}${p}` };
}

// --- cdrex: a server with its worker, and the real CLI against the same database. ---

const server = await startServer(await createTestDatabase());
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-secrets-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(server.db, dataDir, {
  CDREX_APP_DATABASE_URL: server.db.roles.app,
  CDREX_WORKER_DATABASE_URL: server.db.roles.worker,
});
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');
await server.seed(alice.account_id, 'cdr_in', 20);
await server.seed(bob.account_id, 'cdr_in', 20, 2);

function secretCli(action: string, account: string, id?: string): Promise<CliResult> {
  return cdrex(
    ['accounts', 'callback-secret', action, '--account', account, ...(id ? ['--id', id] : [])],
    env,
  );
}

async function createSecret(account: string) {
  const result = await secretCli('create', account);
  assert.equal(result.code, 0, result.stderr);
  return summary(result) as {
    account_id: string;
    id: string;
    secret: string;
    enabled: boolean;
    created_at: string;
  };
}

async function enable(account: string, id: string) {
  const result = await secretCli('enable', account, id);
  assert.equal(result.code, 0, result.stderr);
  return summary(result);
}

async function list(account: string) {
  const result = await secretCli('list', account);
  assert.equal(result.code, 0, result.stderr);
  return summary(result) as { callback_secrets: { id: string; enabled: boolean; created_at: string }[] };
}

/** Creates an export with a callback to a fresh receiver and returns the callback it received. */
async function callbackOf(apiKey: string, method: 'GET' | 'POST'): Promise<Hit> {
  const rx = await receiver();
  const id = await server.createExport(apiKey, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
    callback_url: rx.url('/didww/callback'),
    callback_method: method,
  });
  const hit = await waitFor(async () => rx.hits[0], `the callback of export ${id}`);
  assert.deepEqual(hit.params, { id, type: 'exports', status: 'completed' });
  return hit;
}

const signedWith = (key: string, hit: Hit) => validates(key, hit.url, hit.params, hit.signature);

test('an enabled callback secret signs GET and POST callbacks; before it is enabled, the API key does', async () => {
  assertSpecVectors(); // the receiver's validator is the contract's

  const before = await callbackOf(alice.api_key, 'POST');
  assert.ok(signedWith(alice.api_key, before), 'no secret: the API key signs, as before');

  const created = await createSecret(alice.account_id);
  assert.equal(created.account_id, alice.account_id);
  assert.equal(created.enabled, false);
  assert.ok(created.secret.length >= 40);
  assert.notEqual(created.secret, alice.api_key);
  const notYet = await callbackOf(alice.api_key, 'POST');
  assert.ok(signedWith(alice.api_key, notYet), 'a created secret signs nothing until it is enabled');

  assert.deepEqual(await enable(alice.account_id, created.id), {
    account_id: alice.account_id,
    id: created.id,
    created_at: created.created_at,
    enabled: true,
  });
  for (const method of ['GET', 'POST'] as const) {
    const hit = await callbackOf(alice.api_key, method);
    assert.equal(hit.method, method);
    assert.ok(signedWith(created.secret, hit), `${method}: signed with the callback secret`);
    assert.ok(!signedWith(alice.api_key, hit), `${method}: no longer with the API key`);
  }
  await secretCli('delete', alice.account_id, created.id);
});

test('enable switches which secret signs; deleting the enabled one falls back to the API key', async () => {
  const first = await createSecret(alice.account_id);
  const second = await createSecret(alice.account_id);
  await enable(alice.account_id, first.id);
  assert.ok(signedWith(first.secret, await callbackOf(alice.api_key, 'POST')));

  await enable(alice.account_id, second.id);
  assert.deepEqual(
    (await list(alice.account_id)).callback_secrets.map((s) => [s.id, s.enabled]),
    [
      [first.id, false],
      [second.id, true],
    ],
  );
  const switched = await callbackOf(alice.api_key, 'GET');
  assert.ok(signedWith(second.secret, switched));
  assert.ok(!signedWith(first.secret, switched));

  // One enabled secret per account is the database's rule, not only the CLI's.
  await assert.rejects(
    server.db.pool.query(
      `insert into callback_secrets (account_id, secret_ciphertext, enabled)
       values ($1, '\\x00'::bytea, true)`,
      [alice.account_id],
    ),
    (err: { code?: string }) => err.code === '23505',
  );

  const deleted = await secretCli('delete', alice.account_id, second.id);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(summary(deleted).id, second.id);
  const fallback = await callbackOf(alice.api_key, 'POST');
  assert.ok(signedWith(alice.api_key, fallback), 'the enabled secret deleted: the API key signs again');
  assert.ok(!signedWith(first.secret, fallback), 'a disabled secret does not come back by itself');
  assert.deepEqual(
    (await list(alice.account_id)).callback_secrets.map((s) => [s.id, s.enabled]),
    [[first.id, false]],
  );
  await secretCli('delete', alice.account_id, first.id);
});

test('the CLI shows a secret at create only; the database holds it only encrypted', async () => {
  const created = await createSecret(alice.account_id);
  const outputs = [
    await secretCli('list', alice.account_id),
    await secretCli('enable', alice.account_id, created.id),
    await secretCli('list', alice.account_id),
    await secretCli('delete', alice.account_id, created.id),
  ];
  for (const out of outputs) {
    assert.equal(out.code, 0, out.stderr);
    const line = summary(out); // exactly one JSON line
    assert.ok(!out.stdout.includes(created.secret) && !out.stderr.includes(created.secret));
    assert.equal(line.account_id, alice.account_id);
  }
  const listed = summary(outputs[0]) as { callback_secrets: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(listed.callback_secrets[0]).sort(), ['created_at', 'enabled', 'id']);

  const kept = await createSecret(alice.account_id);
  const { rows } = await server.db.pool.query<{ secret_ciphertext: Buffer }>(
    'select secret_ciphertext from callback_secrets where id = $1',
    [kept.id],
  );
  assert.equal(rows.length, 1);
  assert.ok(!rows[0].secret_ciphertext.toString('latin1').includes(kept.secret));
  assert.ok(!rows[0].secret_ciphertext.toString('base64url').includes(kept.secret));
  await secretCli('delete', alice.account_id, kept.id);

  const noId = await secretCli('enable', alice.account_id);
  assert.equal(noId.code, 2, 'a usage error');
  const unknown = await secretCli('rotate', alice.account_id);
  assert.equal(unknown.code, 2);
});

test("another account cannot see, enable, delete or be signed with an account's secret", async () => {
  const secret = await createSecret(alice.account_id);
  await enable(alice.account_id, secret.id);

  assert.deepEqual((await list(bob.account_id)).callback_secrets, []);
  for (const action of ['enable', 'delete']) {
    const foreign = await secretCli(action, bob.account_id, secret.id);
    assert.equal(foreign.code, 1, `${action} of another account's secret is a data error`);
    assert.match(foreign.stderr, /no callback secret/);
  }
  assert.deepEqual(
    (await list(alice.account_id)).callback_secrets.map((s) => [s.id, s.enabled]),
    [[secret.id, true]],
  );
  const bobs = await callbackOf(bob.api_key, 'POST');
  assert.ok(signedWith(bob.api_key, bobs), "bob's callbacks keep bob's API key");
  assert.ok(!signedWith(secret.secret, bobs));
  assert.ok(signedWith(secret.secret, await callbackOf(alice.api_key, 'POST')));

  // In the database: forced row-level security, and no grant at all to the request role.
  const rls = await server.db.pool.query<{ relrowsecurity: boolean; relforcerowsecurity: boolean }>(
    "select relrowsecurity, relforcerowsecurity from pg_class where relname = 'callback_secrets'",
  );
  assert.deepEqual(rls.rows[0], { relrowsecurity: true, relforcerowsecurity: true });
  // The policy, seen through a role it binds: cdrex_app given a grant that the rollback takes back
  // (the test's owner is a superuser, which row-level security never binds).
  const client = await server.db.pool.connect();
  try {
    await client.query('begin');
    await client.query('grant select on callback_secrets to cdrex_app');
    await client.query('set local role cdrex_app');
    await client.query("select set_config('cdrex.account', $1, true)", [bob.account_id]);
    const asBob = await client.query('select id from callback_secrets');
    assert.equal(asBob.rowCount, 0, "bob's transaction sees none of alice's secrets");
    await client.query("select set_config('cdrex.account', $1, true)", [alice.account_id]);
    const asAlice = await client.query('select id from callback_secrets');
    assert.deepEqual(
      asAlice.rows.map((r: { id: string }) => r.id),
      [secret.id],
    );
  } finally {
    await client.query('rollback');
    client.release();
  }
  await assert.rejects(server.db.app.query('select 1 from callback_secrets'), (err: { code?: string }) => {
    return err.code === '42501';
  });
  await secretCli('delete', alice.account_id, secret.id);
});
