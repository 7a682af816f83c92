// The embedded PostgreSQL: with no DATABASE_URL every command shares one cluster in the data dir;
// the cluster is started once, attached to by later processes, and stopped by the last one out.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cdrex, CDREX_BIN, ROOT_CLUSTERS_DIR, summary } from '../helpers/cli.js';
import { freePort, waitFor } from '../helpers/server.js';

// A data dir of this test's own, under the home folder (as root: /root, where the postgres user
// cannot go — the cluster must still start).
const dataDir = fs.mkdtempSync(path.join(os.homedir(), '.cdrex-embedded-test-'));
const env: NodeJS.ProcessEnv = { DATABASE_URL: '', CDREX_DATA_DIR: dataDir, CDREX_MASTER_KEY: 'k' };
after(async () => {
  await cdrex(['db', 'stop', '--force'], env);
  const cluster = JSON.parse(fs.readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as { id: string };
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(path.join(ROOT_CLUSTERS_DIR, cluster.id), { recursive: true, force: true });
});

const status = async () =>
  summary(await cdrex(['db', 'status'], env)) as { running: boolean; users: number; port: number };

test('a command starts the cluster, uses it, and stops it when it is the last one out', async () => {
  // Only serve, migrate and db start create a store; other commands refuse to (first-hour test).
  const migrated = await cdrex(['migrate'], env);
  assert.equal(migrated.code, 0, migrated.stderr);
  const created = await cdrex(['accounts', 'create', '--name', 'embedded'], env);
  assert.equal(created.code, 0, created.stderr);
  assert.match(String(summary(created).account_id), /^[0-9a-f]{32}$/);
  const cluster = JSON.parse(fs.readFileSync(path.join(dataDir, 'cluster.json'), 'utf8'));
  assert.notEqual(cluster.port, 5432);
  assert.equal(fs.statSync(path.join(dataDir, 'cluster.json')).mode & 0o777, 0o600);
  assert.equal((await status()).running, false);
});

test('serve and other commands share one running cluster; db start/stop/status by hand', async () => {
  const port = await freePort();
  const serve = spawn(process.execPath, [CDREX_BIN, 'serve'], {
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  after(() => serve.kill('SIGKILL'));
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return res?.status === 200;
    },
    'cdrex serve on the embedded store',
    60_000,
  );
  const running = await status();
  assert.equal(running.running, true);
  assert.equal(running.users, 1);
  // Two more commands at once attach to the same cluster rather than start another.
  const [a, b] = await Promise.all([
    cdrex(['accounts', 'create', '--name', 'one'], env),
    cdrex(['accounts', 'create', '--name', 'two'], env),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const key = String(summary(a).api_key);
  const res = await fetch(`http://127.0.0.1:${port}/v3/exports`, { headers: { 'Api-Key': key } });
  assert.equal(res.status, 200, 'the server sees the account the CLI created');
  assert.equal((await status()).running, true, "the CLI leaving does not stop the server's cluster");

  serve.kill('SIGTERM');
  await new Promise((r) => serve.once('exit', r));
  assert.equal((await status()).running, false, 'the last process out stopped it');

  assert.equal(summary(await cdrex(['db', 'start'], env)).running, true);
  assert.equal((await status()).running, true);
  assert.deepEqual(summary(await cdrex(['db', 'stop'], env)), { stopped: true });
  assert.equal((await status()).running, false);
});
