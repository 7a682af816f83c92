// Secrets: API keys and tokens are stored only as hashes, never logged (the full log of a real
// `cdrex serve` at trace level is searched), tokens expire, and rotate-key retires the old key.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CDREX_BIN, cdrex, summary } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, testEnv, waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-secrets-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);

test('keys and tokens appear nowhere in a full trace-level log, nor in the database in plain text', async () => {
  const account = summary(await cdrex(['accounts', 'create', '--name', 'secretive'], env)) as {
    account_id: string;
    api_key: string;
  };
  const port = 20000 + Math.floor(Math.random() * 20000);
  const serve = spawn(process.execPath, [CDREX_BIN, 'serve'], {
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'trace' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  serve.stdout.on('data', (d: Buffer) => (log += d.toString()));
  serve.stderr.on('data', (d: Buffer) => (log += d.toString()));
  after(() => serve.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.ok,
    'cdrex serve',
    60_000,
  );

  const key = account.api_key;
  await fetch(`${base}/v3/exports`, { headers: { 'Api-Key': key } });
  await fetch(`${base}/v3/exports`, { headers: { 'Api-Key': `${key}x` } });
  const auth = await fetch(`${base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { api_key: key } }),
  });
  const token = ((await auth.json()) as { auth_token: string }).auth_token;
  const cdrs = `${base}/v2/accounts/${account.account_id}/cdrs`;
  await fetch(`${cdrs}?auth_token=${token}`);
  await fetch(`${cdrs}?auth_token=${key}&page_size=0`);
  await fetch(cdrs, { headers: { 'X-Auth-Token': token } });
  await fetch(cdrs, { headers: { Authorization: `Bearer ${token}` } });
  await fetch(`${base}/ingest/freeswitch`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${account.account_id}:${key}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: '{"not":"a cdr"}',
  });
  const rotated = summary(await cdrex(['accounts', 'rotate-key', '--account', account.account_id], env)) as {
    api_key: string;
  };
  await fetch(`${base}/v3/exports`, { headers: { 'Api-Key': rotated.api_key } });
  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));

  assert.ok(log.includes('request completed'), 'the log was captured');
  assert.ok(log.includes('[redacted]'), 'query credentials were redacted');
  for (const secret of [key, token, rotated.api_key])
    assert.ok(!log.includes(secret), 'a secret reached the log');
  const dump = await db.pool.query(
    "select string_agg(encode(token_hash, 'escape'), '') as t from api_tokens",
  );
  assert.ok(!String(dump.rows[0].t).includes(token));
});

test('rotate-key: the old key stops working at once, the new one works', async () => {
  const server = await startServer(db, { worker: false });
  const account = await server.newAccount('rotating');
  const list = (k: string) =>
    fetch(`${server.base}/v3/exports`, { headers: { 'Api-Key': k } }).then((r) => r.status);
  assert.equal(await list(account.api_key), 200);
  const result = await cdrex(['accounts', 'rotate-key', '--account', account.account_id], env);
  assert.equal(result.code, 0, result.stderr);
  const rotated = summary(result) as { account_id: string; api_key: string };
  assert.equal(rotated.account_id, account.account_id);
  assert.equal(await list(account.api_key), 401);
  assert.equal(await list(rotated.api_key), 200);
  const unknown = await cdrex(['accounts', 'rotate-key', '--account', '0'.repeat(32)], env);
  assert.equal(unknown.code, 1);
});

test('Kazoo tokens expire', async () => {
  const server = await startServer(db, { worker: false, env: { CDREX_TOKEN_TTL_S: '1' } });
  const account = await server.newAccount('expiring');
  const auth = await fetch(`${server.base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { api_key: account.api_key } }),
  });
  const token = ((await auth.json()) as { auth_token: string }).auth_token;
  const list = () =>
    fetch(`${server.base}/v2/accounts/${account.account_id}/cdrs`, {
      headers: { 'X-Auth-Token': token },
    }).then((r) => r.status);
  assert.equal(await list(), 200);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await list(), 401);
});
