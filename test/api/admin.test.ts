// The operators' API (/admin/v1) and the audit log, through HTTP and the CLI: operator tokens,
// accounts, a second key and revocation, disable/enable on every dialect, callback secrets,
// retention, the audit trail (a download with its address) and that cdrex_app cannot change it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cdrex, summary } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startServer, testEnv, THIS_MONTH, THIS_YEAR, type TestServer } from '../helpers/server.js';

const db: TestDatabase = await createTestDatabase();
const server: TestServer = await startServer(db);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-admin-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);
const created = await cdrex(['admin', 'token', 'create', '--name', 'billing'], env);
assert.equal(created.code, 0, created.stderr);
const token = String(summary(created).token);

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function admin(method: string, url: string, body?: unknown, bearer: string | null = token) {
  const headers: Record<string, string> = {};
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.base}/admin/v1${url}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
}

const didww = (key: string) =>
  fetch(`${server.base}/v3/exports`, { headers: { 'Api-Key': key, Accept: 'application/vnd.api+json' } });
const kazoo = (accountId: string, credential: string) =>
  fetch(`${server.base}/v2/accounts/${accountId}/cdrs?paginate=false`, {
    headers: { 'X-Auth-Token': credential },
  });
async function apiAuth(apiKey: string): Promise<string> {
  const res = await fetch(`${server.base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { api_key: apiKey } }),
  });
  assert.equal(res.status, 201);
  return ((await res.json()) as { auth_token: string }).auth_token;
}
async function auditOf(accountId: string, action: string): Promise<Json[]> {
  const res = await admin('GET', `/audit?account=${accountId}&action=${action}`);
  assert.equal(res.status, 200);
  return res.body.data as Json[];
}

test('no token, a wrong or revoked token, an account key or a Kazoo token: 401', async () => {
  const account = await server.newAccount('acme');
  const kazooToken = await apiAuth(account.api_key);
  for (const bearer of [null, 'not-a-token', account.api_key, kazooToken]) {
    const res = await admin('GET', '/accounts', undefined, bearer);
    assert.equal(res.status, 401, String(bearer));
    assert.match(res.body.error, /operator token/);
  }
  // The account key in the headers the dialects read is no operator token either.
  const viaApiKey = await fetch(`${server.base}/admin/v1/accounts`, {
    headers: { 'Api-Key': account.api_key, 'X-Auth-Token': kazooToken },
  });
  assert.equal(viaApiKey.status, 401);

  const other = summary(await cdrex(['admin', 'token', 'create', '--name', 'temp'], env));
  assert.equal((await admin('GET', '/accounts', undefined, String(other.token))).status, 200);
  const listed = await cdrex(['admin', 'token', 'list'], env);
  const lines = listed.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json);
  assert.deepEqual(lines.map((l) => l.name).sort(), ['billing', 'temp']);
  assert.ok(lines.every((l) => l.token === undefined && !listed.stdout.includes(String(other.token))));
  const revoked = await cdrex(['admin', 'token', 'revoke', '--id', String(other.id)], env);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await admin('GET', '/accounts', undefined, String(other.token))).status, 401);
  assert.equal((await admin('GET', '/accounts')).status, 200);
});

test('accounts: create, keyset pages, show, rename, retention; bad input is 400, unknown 404', async () => {
  const created = await admin('POST', '/accounts', { name: 'Tel One', retention_months: 6 });
  assert.equal(created.status, 201);
  const id = created.body.data.account_id as string;
  assert.equal(created.body.data.retention_months, 6);
  assert.equal(created.body.data.disabled, false);
  assert.equal(created.body.api_key.last4, String(created.body.api_key.api_key).slice(-4));
  // The key it printed works.
  assert.equal((await didww(created.body.api_key.api_key)).status, 200);

  for (let i = 0; i < 3; i++)
    assert.equal((await admin('POST', '/accounts', { name: `page ${i}` })).status, 201);
  const seen: string[] = [];
  let after: string | null = null;
  do {
    const page = await admin('GET', `/accounts?limit=2${after ? `&after=${after}` : ''}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.data.length <= 2);
    seen.push(...page.body.data.map((a: Json) => a.account_id));
    after = page.body.next;
  } while (after);
  const { rows } = await db.pool.query<{ id: string }>('select id from accounts order by id');
  assert.deepEqual(
    seen,
    rows.map((r) => r.id),
  );

  const renamed = await admin('PATCH', `/accounts/${id}`, { name: 'Tel Two' });
  assert.equal(renamed.body.data.name, 'Tel Two');
  assert.equal((await admin('GET', `/accounts/${id}`)).body.data.name, 'Tel Two');
  assert.equal((await admin('PATCH', `/accounts/${id}`, { retention_months: 2 })).status, 400);
  assert.equal(
    (await admin('PATCH', `/accounts/${id}`, { retention_months: null })).body.data.retention_months,
    null,
  );
  assert.equal(
    (await admin('PATCH', `/accounts/${id}`, { retention_months: 12 })).body.data.retention_months,
    12,
  );
  const stored = await db.pool.query('select retention_months from accounts where id = $1', [id]);
  assert.equal(stored.rows[0].retention_months, 12);
  assert.equal((await admin('PATCH', `/accounts/${id}`, { colour: 'red' })).status, 400);
  assert.equal((await admin('GET', `/accounts/${'0'.repeat(32)}`)).status, 404);
  assert.equal((await admin('GET', '/accounts/not-an-id')).status, 400);

  const actions = (await admin('GET', `/audit?account=${id}`)).body.data.map((e: Json) => e.action);
  assert.deepEqual(actions, [
    'account.retention_changed',
    'account.retention_changed',
    'account.renamed',
    'account.retention_changed',
    'account.created',
  ]);
});

test('a disabled account gets 401 on every dialect and keeps its data; enabled, it works again', async () => {
  const account = await server.newAccount('paused');
  await server.seed(account.account_id, 'cdr_in', 25);
  const kazooToken = await apiAuth(account.api_key);
  const count = async () =>
    (await db.pool.query('select count(*)::int as n from cdrs where account_id = $1', [account.account_id]))
      .rows[0].n;
  assert.equal(await count(), 25);
  const kazooRows = async () => {
    const res = await kazoo(account.account_id, account.api_key);
    assert.equal(res.status, 200);
    return ((await res.json()) as { data: unknown[] }).data;
  };
  const shown = await kazooRows();
  assert.ok(shown.length > 0);

  const disabled = await admin('POST', `/accounts/${account.account_id}/disable`);
  assert.equal(disabled.status, 200);
  assert.equal(disabled.body.data.disabled, true);
  assert.equal((await didww(account.api_key)).status, 401);
  assert.equal((await kazoo(account.account_id, account.api_key)).status, 401);
  assert.equal((await kazoo(account.account_id, kazooToken)).status, 401);
  const auth = await fetch(`${server.base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { api_key: account.api_key } }),
  });
  assert.equal(auth.status, 401);
  const post = await fetch(`${server.base}/ingest/freeswitch`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(`${account.account_id}:${account.api_key}`).toString('base64')}`,
    },
    body: '{}',
  });
  assert.equal(post.status, 401);
  assert.equal(await count(), 25);

  const enabled = await admin('PATCH', `/accounts/${account.account_id}`, { disabled: false });
  assert.equal(enabled.body.data.disabled, false);
  assert.equal((await didww(account.api_key)).status, 200);
  assert.deepEqual(await kazooRows(), shown);

  const actions = (await admin('GET', `/audit?account=${account.account_id}`)).body.data.map(
    (e: Json) => e.action,
  );
  assert.deepEqual(actions, ['account.enabled', 'account.disabled']);
  const [event] = await auditOf(account.account_id, 'account.disabled');
  assert.equal(event.actor, 'operator:billing');
  assert.equal(event.address, '127.0.0.1');
});

test('a second key, then revoking the first: the customer rotates without a failed request', async () => {
  const account = await server.newAccount('rotating');
  const id = account.account_id;
  const issued = await admin('POST', `/accounts/${id}/api-keys`);
  assert.equal(issued.status, 201);
  const second = issued.body.data.api_key as string;
  assert.notEqual(second, account.api_key);
  // Both work at once.
  assert.equal((await didww(account.api_key)).status, 200);
  assert.equal((await didww(second)).status, 200);
  assert.equal((await kazoo(id, second)).status, 200);

  const keys = await admin('GET', `/accounts/${id}/api-keys`);
  assert.equal(keys.status, 200);
  assert.deepEqual(
    keys.body.data.map((k: Json) => k.last4),
    [account.api_key.slice(-4), second.slice(-4)],
  );
  const listing = JSON.stringify(keys.body);
  assert.ok(!listing.includes(account.api_key) && !listing.includes(second));
  const firstId = keys.body.data[0].id as string;
  const kazooToken = await apiAuth(second);
  assert.equal((await kazoo(id, kazooToken)).status, 200);

  const revoked = await admin('DELETE', `/accounts/${id}/api-keys/${firstId}`);
  assert.equal(revoked.status, 204);
  assert.equal((await didww(account.api_key)).status, 401);
  assert.equal((await kazoo(id, account.api_key)).status, 401);
  assert.equal((await didww(second)).status, 200);
  // api_auth tokens go with a revoked key (any may have been made with it); the client logs in again.
  assert.equal((await kazoo(id, kazooToken)).status, 401);
  // The last key is refused: disabling is how to shut an account out.
  const last = (await admin('GET', `/accounts/${id}/api-keys`)).body.data[0].id as string;
  assert.equal((await admin('DELETE', `/accounts/${id}/api-keys/${last}`)).status, 409);
  assert.equal((await admin('DELETE', `/accounts/${id}/api-keys/${firstId}`)).status, 404);
  assert.equal((await didww(second)).status, 200);

  const [issuedEvent] = await auditOf(id, 'api_key.issued');
  assert.deepEqual(issuedEvent.detail, { key_id: issued.body.data.id, last4: second.slice(-4) });
  const [revokedEvent] = await auditOf(id, 'api_key.revoked');
  assert.deepEqual(revokedEvent.detail, { key_id: firstId });
});

test('callback secrets through the admin API, audited', async () => {
  const account = await server.newAccount('signed');
  const id = account.account_id;
  const created = await admin('POST', `/accounts/${id}/callback-secrets`);
  assert.equal(created.status, 201);
  assert.equal(created.body.data.enabled, false);
  assert.equal(typeof created.body.data.secret, 'string');
  const secretId = created.body.data.id as string;
  const enabled = await admin('POST', `/accounts/${id}/callback-secrets/${secretId}/enable`);
  assert.equal(enabled.body.data.enabled, true);
  const listed = await admin('GET', `/accounts/${id}/callback-secrets`);
  assert.deepEqual(listed.body.data, [
    { id: secretId, created_at: created.body.data.created_at, enabled: true },
  ]);
  assert.equal((await admin('DELETE', `/accounts/${id}/callback-secrets/${secretId}`)).status, 204);
  assert.deepEqual((await admin('GET', `/accounts/${id}/callback-secrets`)).body.data, []);
  const actions = (await admin('GET', `/audit?account=${id}`)).body.data.map((e: Json) => e.action);
  assert.deepEqual(actions, [
    'callback_secret.deleted',
    'callback_secret.enabled',
    'callback_secret.created',
  ]);
});

/** A new account with 10 CDRs this month and the URL of its month's completed export file. */
async function accountWithExportFile(name: string) {
  const account = await server.newAccount(name);
  await server.seed(account.account_id, 'cdr_in', 10);
  const exportId = await server.createExport(account.api_key, {
    filters: { year: THIS_YEAR, month: THIS_MONTH },
    export_type: 'cdr_in',
  });
  const url = await server.exportFileUrl(account.api_key, exportId);
  return { account, url };
}

test('an export download is audited: account, credential kind, file and client address', async () => {
  const { account, url } = await accountWithExportFile('downloader');
  assert.deepEqual(await auditOf(account.account_id, 'export.downloaded'), []);
  // The event is committed before the bytes go out: it is there once the headers are, with the
  // body not yet read. An INSERT issued after the send raced the client (CI once lost that race).
  // A trigger slows every download's INSERT down by 300 ms, so an INSERT behind the bytes loses
  // the race every time, not one time in three.
  await db.pool.query(`create function slow_download_audit() returns trigger language plpgsql as $$
    begin
      if new.action = 'export.downloaded' then perform pg_sleep(0.3); end if;
      return new;
    end $$`);
  await db.pool.query(`create trigger slow_download_audit before insert on audit_log
    for each row execute function slow_download_audit()`);
  try {
    const res = await fetch(url, { headers: { 'Api-Key': account.api_key } });
    assert.equal(res.status, 200);
    assert.equal((await auditOf(account.account_id, 'export.downloaded')).length, 1);
    await res.arrayBuffer();
  } finally {
    await db.pool.query('drop trigger slow_download_audit on audit_log; drop function slow_download_audit()');
  }
  const head = await fetch(url, { method: 'HEAD', headers: { 'Api-Key': account.api_key } });
  assert.equal(head.status, 200);
  const events = await auditOf(account.account_id, 'export.downloaded');
  assert.equal(events.length, 1, 'a HEAD is not a download');
  const [event] = events;
  assert.equal(event.actor, 'account:api_key');
  assert.equal(event.address, '127.0.0.1');
  assert.equal(event.detail.file_id, new URL(url).pathname.split('/').pop()!.replace(/\..*$/, ''));
  assert.match(event.detail.file_name, /\.csv(\.gz)?$/);
  assert.ok(Date.parse(event.at) > 0);
});

test('a file taken in byte ranges is audited range by range; 304, 416 and HEAD are not', async () => {
  const { account, url } = await accountWithExportFile('ranger');
  const get = async (headers: Record<string, string>, method = 'GET') => {
    const res = await fetch(url, { method, headers: { 'Api-Key': account.api_key, ...headers } });
    await res.arrayBuffer();
    return res;
  };
  // Piece by piece, a whole file can be taken without one 200: each piece is a download.
  const first = await get({ Range: 'bytes=0-9' });
  assert.equal(first.status, 206);
  const etag = first.headers.get('etag')!;
  assert.equal((await get({ Range: 'bytes=10-' })).status, 206);
  assert.equal((await get({ Range: 'bytes=999999999-' })).status, 416);
  assert.equal((await get({ 'If-None-Match': etag })).status, 304);
  assert.equal((await get({ Range: 'bytes=0-9' }, 'HEAD')).status, 206);
  const events = await auditOf(account.account_id, 'export.downloaded');
  assert.deepEqual(
    events.map((e) => e.detail.status),
    [206, 206],
  );
});

test('the audit log is append-only for the service: cdrex_app cannot update or delete a row', async () => {
  const account = await server.newAccount('immutable');
  await admin('PATCH', `/accounts/${account.account_id}`, { name: 'renamed' });
  const client = await db.app.connect();
  try {
    await client.query(`begin; set local cdrex.account = '${account.account_id}'`);
    const { rows } = await client.query('select id from audit_log');
    assert.equal(rows.length, 1, 'the account sees its own event');
    await assert.rejects(client.query("update audit_log set action = 'nothing'"), /permission denied/);
    await client.query('rollback');
    await client.query(`begin; set local cdrex.account = '${account.account_id}'`);
    await assert.rejects(client.query('delete from audit_log'), /permission denied/);
    await client.query('rollback');
    await assert.rejects(client.query('truncate audit_log'), /permission denied/);
  } finally {
    client.release();
  }
  // Not even the owner changes history.
  await assert.rejects(db.pool.query("update audit_log set action = 'nothing'"), /append-only/);
  await assert.rejects(db.pool.query('delete from audit_log'), /append-only/);
  assert.equal((await auditOf(account.account_id, 'account.renamed')).length, 1);
});

test('cdrex audit filters by account and action and pages the newest first', async () => {
  const account = await server.newAccount('cli');
  for (const name of ['a', 'b', 'c']) await admin('PATCH', `/accounts/${account.account_id}`, { name });
  const run = await cdrex(
    ['audit', '--account', account.account_id, '--action', 'account.renamed', '--limit', '2'],
    env,
  );
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Json);
  assert.deepEqual(
    lines.map((l) => l.detail.to),
    ['c', 'b'],
  );
  assert.ok(lines.every((l) => l.account_id === account.account_id && l.action === 'account.renamed'));
  const page = await admin('GET', `/audit?account=${account.account_id}&limit=2`);
  const rest = await admin('GET', `/audit?account=${account.account_id}&limit=2&before=${page.body.next}`);
  assert.deepEqual(
    [...page.body.data, ...rest.body.data].map((e: Json) => e.detail.to),
    ['c', 'b', 'a'],
  );
  assert.equal(rest.body.next, null);
  const bad = await cdrex(['audit', '--limit', 'many'], env);
  assert.equal(bad.code, 2);
});

test('the CLI audits what it does to accounts: create and rotate-key', async () => {
  const made = await cdrex(['accounts', 'create', '--name', 'from-cli'], env);
  assert.equal(made.code, 0, made.stderr);
  const id = String(summary(made).account_id);
  const rotated = await cdrex(['accounts', 'rotate-key', '--account', id], env);
  assert.equal(rotated.code, 0, rotated.stderr);
  const events = (await admin('GET', `/audit?account=${id}`)).body.data as Json[];
  assert.deepEqual(
    events.map((e) => [e.action, e.actor]),
    [
      ['api_key.rotated', 'cli'],
      ['account.created', 'cli'],
    ],
  );
  assert.deepEqual(events[1].detail, { name: 'from-cli' });
});

test('the CLI audits callback secrets as the admin API does: created, enabled, deleted, by cli', async () => {
  const account = await server.newAccount('cli-secrets');
  const id = account.account_id;
  const secretCli = async (...args: string[]) => {
    const run = await cdrex(['accounts', 'callback-secret', ...args, '--account', id], env);
    assert.equal(run.code, 0, run.stderr);
    return summary(run);
  };
  const created = await secretCli('create');
  const secretId = String(created.id);
  await secretCli('enable', '--id', secretId);
  await secretCli('list');
  await secretCli('delete', '--id', secretId);
  const events = (await admin('GET', `/audit?account=${id}`)).body.data as Json[];
  assert.deepEqual(
    events.map((e) => [e.action, e.actor, e.detail]),
    [
      ['callback_secret.deleted', 'cli', { secret_id: secretId }],
      ['callback_secret.enabled', 'cli', { secret_id: secretId }],
      ['callback_secret.created', 'cli', { secret_id: secretId }],
    ],
  );
  assert.ok(!JSON.stringify(events).includes(String(created.secret)), 'never the secret');
});
