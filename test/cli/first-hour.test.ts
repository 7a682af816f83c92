// The first hour with cdrex (issue #14): what a new user meets when following the README. The
// Kazoo login as Kazoo clients send it with curl, and 415s that say what to send instead.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cdrex, CDREX_BIN, ROOT, ROOT_CLUSTERS_DIR, spawnCdrex, summary, hasScript } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { destroyEmbedded, statusEmbedded } from '../../src/store/embedded.js';
import { freePort, startServer, testEnv, waitFor } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), { worker: false });
const alice = await server.newAccount('alice');

/** A request as curl sends it: `-d` without `-H 'Content-Type: …'` is a form. */
async function send(method: string, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.base}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** The JSON lines of a command's stderr (its logs and its error line). */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A data directory for an embedded store of this test's own, stopped and removed at the end. */
function embeddedDataDir(): string {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
  after(async () => {
    // As root the cluster lives outside the data directory (/var/lib/cdrex/clusters/<id>).
    await destroyEmbedded(dataDir, { force: true });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}

describe("Kazoo bodies, as Kazoo's crossbar takes them", () => {
  test("api_auth with curl's default form type answers 201 and a token that works", async () => {
    const login = await send(
      'PUT',
      '/v2/api_auth',
      JSON.stringify({ data: { api_key: alice.api_key } }),
      FORM,
    );
    assert.equal(login.status, 201, JSON.stringify(login.json));
    const token = login.json.auth_token as string;
    assert.match(token, /.{20,}/);
    const list = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
      headers: { 'X-Auth-Token': token },
    });
    assert.equal(list.status, 200);
  });

  test('api_auth as application/x-json, and a body without Content-Type, is JSON', async () => {
    const body = JSON.stringify({ data: { api_key: alice.api_key } });
    const xJson = await send('PUT', '/v2/api_auth', body, { 'Content-Type': 'application/x-json' });
    assert.equal(xJson.status, 201, JSON.stringify(xJson.json));
    // fetch() labels a string body text/plain; a Blob without a type sends no Content-Type at all.
    const res = await fetch(`${server.base}/v2/api_auth`, { method: 'PUT', body: new Blob([body]) });
    assert.equal(res.status, 201, await res.text());
  });

  test('a form body that is neither JSON nor the fields api_auth needs is a Kazoo 400', async () => {
    const broken = await send('PUT', '/v2/api_auth', '{"data":', FORM);
    assert.equal(broken.status, 400);
    assert.equal(broken.json.status, 'error');
    const fields = await send('PUT', '/v2/api_auth', 'api_key=x', FORM);
    assert.equal(fields.status, 400);
  });

  test('the 4 KiB api_auth limit holds for a form body (413 in the envelope)', async () => {
    const padded = JSON.stringify({ data: { api_key: alice.api_key }, pad: 'x'.repeat(5000) });
    const res = await send('PUT', '/v2/api_auth', padded, FORM);
    assert.equal(res.status, 413);
    assert.equal(res.json.status, 'error');
  });

  test('an upload sent as a form carries JSON and is stored', async () => {
    const start = Math.floor(Date.now() / 1000) - 3600 + 62167219200;
    const doc = { call_id: 'form-upload-1', timestamp: start, duration_seconds: 5, billing_seconds: 3 };
    const res = await send('PUT', `/v2/accounts/${alice.account_id}/cdrs`, JSON.stringify({ data: [doc] }), {
      ...FORM,
      'X-Auth-Token': alice.api_key,
    });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    assert.equal((res.json.data as { inserted: number }).inserted, 1);
  });

  test('every 415 names the accepted types, in the dialect of its route', async () => {
    const login = await send('PUT', '/v2/api_auth', 'x', { 'Content-Type': 'application/xml' });
    assert.equal(login.status, 415);
    assert.equal(login.json.status, 'error');
    const loginMessage = (login.json.data as { message: string }).message;
    for (const type of ['application/json', 'application/x-json', 'application/x-www-form-urlencoded'])
      assert.ok(loginMessage.includes(type), loginMessage);

    const upload = await send('PUT', `/v2/accounts/${alice.account_id}/cdrs`, 'x', {
      'Content-Type': 'application/xml',
      'X-Auth-Token': alice.api_key,
    });
    assert.equal(upload.status, 415);
    const uploadMessage = (upload.json.data as { message: string }).message;
    for (const type of ['application/json', 'application/x-ndjson', 'text/csv'])
      assert.ok(uploadMessage.includes(type), uploadMessage);

    const didww = await send('POST', '/v3/exports', '{}', {
      'Content-Type': 'text/plain',
      'Api-Key': alice.api_key,
    });
    assert.equal(didww.status, 415);
    assert.match(JSON.stringify(didww.json), /application\/vnd\.api\+json/);

    const auth = `Basic ${Buffer.from(`${alice.account_id}:${alice.api_key}`).toString('base64')}`;
    const fs = await send('POST', '/ingest/freeswitch', 'x', {
      'Content-Type': 'application/xml',
      Authorization: auth,
    });
    assert.equal(fs.status, 415);
    for (const type of [
      'application/json',
      'application/x-www-form-urlencoded',
      'application/x-www-form-base64-encoded',
    ])
      assert.ok(String(fs.json.error).includes(type), String(fs.json.error));
  });
});

describe('cdrex serve', () => {
  test('exits non-zero with one clear line when its port is taken', { timeout: 120_000 }, async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    after(() => taken.close());
    const port = (taken.address() as net.AddressInfo).port;
    const dataDir = embeddedDataDir();
    // A hang is what this guards against: the command must end by itself. The embedded store is
    // the case that hung (its supervisor kept the process alive).
    const result = await cdrex(
      ['serve'],
      testEnv(server.db, dataDir, { PORT: String(port), DATABASE_URL: '' }),
    );
    assert.equal(result.code, 1, result.stderr);
    const errors = jsonLines(result.stderr).filter((l) => typeof l.error === 'string');
    assert.equal(errors.length, 1, result.stderr);
    assert.match(String(errors[0].error), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*PORT`));
    // …and nothing else went wrong on the way out (closing twice once logged a pool error).
    const logged = jsonLines(result.stderr).filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(logged, [], result.stderr);
    // It left as any process does: unregistered, and the cluster it started stopped.
    assert.equal(statusEmbedded(dataDir).running, false);
  });

  test('cdrex worker likewise, when its metrics port is taken', { timeout: 120_000 }, async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    after(() => taken.close());
    const port = (taken.address() as net.AddressInfo).port;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
    after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const result = await cdrex(['worker'], testEnv(server.db, dataDir, { CDREX_METRICS_PORT: String(port) }));
    assert.equal(result.code, 1, result.stderr);
    const errors = jsonLines(result.stderr).filter((l) => typeof l.error === 'string');
    assert.equal(errors.length, 1, result.stderr);
    const logged = jsonLines(result.stderr).filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(logged, [], result.stderr);
  });

  test(
    'on a terminal, prints one human line: URL, portal, data directory and store',
    { skip: !hasScript() },
    async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
      after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      const port = await freePort();
      const env = testEnv(server.db, dataDir, { PORT: String(port), LOG_LEVEL: 'silent' });
      // script(1) gives the command a pseudo-terminal, as a person's shell would.
      const child = spawn(
        'script',
        ['-qfec', `${process.execPath} ${CDREX_BIN} serve --no-worker`, '/dev/null'],
        {
          env: { ...process.env, ...env },
          stdio: ['pipe', 'pipe', 'inherit'],
          detached: true,
        },
      );
      after(() => {
        if (child.exitCode !== null) return;
        // script(1) runs the command in a session of its own, which killing script's group does
        // not reach: kill that session's group (its leader is script's child) first. Left alone,
        // a serve whose terminal is gone spins (see the stop note of 2026-12-02).
        const children = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8');
        for (const pid of children.trim().split(/\s+/).filter(Boolean).map(Number))
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // already gone
          }
        process.kill(-child.pid!, 'SIGKILL');
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const line = await waitFor(
        async () => out.split(/\r?\n/).find((l) => l.startsWith('cdrex serving')),
        'the start line',
      );
      const url = `http://127.0.0.1:${port}`;
      assert.ok(line.includes(`cdrex serving ${url}`), line);
      assert.ok(line.includes(`portal ${url}/`), line);
      assert.ok(line.includes(`data ${dataDir}`), line);
      const dbUrl = new URL(server.db.url);
      assert.ok(line.includes(`store postgres://${dbUrl.username}@${dbUrl.host}${dbUrl.pathname}`), line);
      if (dbUrl.password) assert.ok(!line.includes(dbUrl.password), 'the password is never shown');
    },
  );
});

describe('the command line describes itself', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const env = () => testEnv(server.db, dataDir);

  test('accounts list prints one JSON line per account: id, name, created, key count', async () => {
    const created = summary(await cdrex(['accounts', 'create', '--name', 'Listed Ltd'], env()));
    const result = await cdrex(['accounts', 'list'], env());
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const byId = new Map(lines.map((l) => [l.account_id, l]));
    for (const [id, name] of [
      [alice.account_id, 'alice'],
      [created.account_id as string, 'Listed Ltd'],
    ]) {
      const line = byId.get(id);
      assert.ok(line, `${id} listed`);
      assert.equal(line.name, name);
      assert.equal(line.keys, 1);
      assert.ok(!Number.isNaN(Date.parse(String(line.created))), String(line.created));
      assert.ok(!JSON.stringify(line).includes(alice.api_key), 'no key is ever printed');
    }
  });

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await cdrex(['--version'], {});
    assert.equal(result.code, 0);
    assert.equal(summary(result).cdrex, pkg.version);
  });

  test('help names both dialects, the portal and switch ingestion; each --help is its own', async () => {
    const top = (await cdrex(['--help'], {})).stdout;
    for (const word of ['DIDWW', 'Kazoo', 'portal', 'FreeSWITCH', '/ingest/freeswitch', '--version'])
      assert.ok(top.includes(word), `top-level help names ${word}`);
    const serveHelp = await cdrex(['serve', '--help'], {});
    assert.equal(serveHelp.code, 0);
    assert.ok(serveHelp.stdout.startsWith('cdrex serve'), serveHelp.stdout);
    for (const word of ['Kazoo', 'portal', '/ingest/freeswitch'])
      assert.ok(serveHelp.stdout.includes(word), word);
    assert.ok(!serveHelp.stdout.includes('cdrex generate'), 'serve --help is about serve only');
    const accountsHelp = (await cdrex(['help', 'accounts'], {})).stdout;
    assert.ok(accountsHelp.startsWith('cdrex accounts'), accountsHelp);
    assert.ok(accountsHelp.includes('cdrex accounts list'), accountsHelp);
    // A name every object has is no command (it once printed "undefined", or exited 2 silently).
    const notAHelpTopic = await cdrex(['help', 'toString'], {});
    assert.equal(notAHelpTopic.code, 0);
    assert.ok(notAHelpTopic.stdout.includes('DIDWW') && !notAHelpTopic.stdout.includes('undefined'));
    const notACommand = await cdrex(['constructor'], {});
    assert.equal(notACommand.code, 2);
    assert.match(String(jsonLines(notACommand.stderr)[0]?.error), /Unknown command "constructor"/);
  });
});

describe('the embedded store', () => {
  const dataDir = embeddedDataDir();
  const env = { DATABASE_URL: '', CDREX_DATA_DIR: dataDir, CDREX_MASTER_KEY: 'k' };

  test('accounts create, import and worker refuse to create a store: they say where they looked', async () => {
    for (const args of [
      ['accounts', 'create', '--name', 'Lost'],
      ['accounts', 'list'],
      ['import', '--account', '0'.repeat(32), '--type', 'cdr_in', '-'],
      ['worker', '--once'],
    ]) {
      const result = await cdrex(args, env, '');
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const errors = jsonLines(result.stderr);
      assert.equal(errors.length, 1, result.stderr);
      const message = String(errors[0].error);
      for (const part of [dataDir, 'CDREX_DATA_DIR', 'npm start', 'cdrex migrate', `cdrex ${args[0]}`])
        assert.ok(message.includes(part), `${message} names ${part}`);
    }
    assert.deepEqual(fs.readdirSync(dataDir), [], 'nothing was created');
  });

  test(
    'migrate creates it; then accounts create works (the README order)',
    { timeout: 180_000 },
    async () => {
      const migrated = await cdrex(['migrate'], env);
      assert.equal(migrated.code, 0, migrated.stderr);
      const created = await cdrex(['accounts', 'create', '--name', 'Found'], env);
      assert.equal(created.code, 0, created.stderr);
      assert.match(String(summary(created).account_id), /^[0-9a-f]{32}$/);
    },
  );

  test('db status says where the data and the cluster are', async () => {
    const status = summary(await cdrex(['db', 'status'], env));
    assert.equal(status.exists, true);
    assert.equal(status.data_dir, dataDir);
    const clusterDir = String(status.cluster_dir);
    assert.ok(fs.existsSync(path.join(clusterDir, 'pgdata', 'PG_VERSION')), clusterDir);
    assert.equal(status.dir, path.join(clusterDir, 'pgdata'));
    assert.equal(status.log, path.join(clusterDir, 'postgres.log'));
  });

  test(
    'db stop and db destroy refuse while serve uses the cluster; --force stops it',
    { timeout: 180_000 },
    async () => {
      const port = await freePort();
      const { proc } = spawnCdrex(['serve', '--no-worker'], { ...env, PORT: String(port) });
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
        'cdrex serve',
        120_000,
      );
      for (const args of [
        ['db', 'stop'],
        ['db', 'destroy'],
      ]) {
        const refused = await cdrex(args, env);
        assert.equal(refused.code, 1, refused.stderr);
        const message = String(jsonLines(refused.stderr)[0]?.error);
        assert.ok(message.includes(String(proc.pid)) && message.includes('--force'), message);
      }
      const status = summary(await cdrex(['db', 'status'], env));
      assert.equal(status.running, true, 'still running');
      assert.ok(fs.existsSync(String(status.cluster_dir)));
      assert.deepEqual(summary(await cdrex(['db', 'stop', '--force'], env)), { stopped: true });
      assert.equal(summary(await cdrex(['db', 'status'], env)).running, false);
      proc.kill('SIGTERM');
      await new Promise((resolve) => (proc.exitCode === null ? proc.once('exit', resolve) : resolve(null)));
    },
  );

  test('db destroy removes the cluster and its directory; then no command finds a store', async () => {
    const clusterDir = String(summary(await cdrex(['db', 'status'], env)).cluster_dir);
    const destroyed = summary(await cdrex(['db', 'destroy'], env));
    assert.deepEqual(destroyed, { destroyed: true, cluster_dir: clusterDir });
    assert.equal(fs.existsSync(clusterDir), false);
    assert.equal(fs.existsSync(path.join(dataDir, 'cluster.json')), false);
    assert.equal(summary(await cdrex(['db', 'status'], env)).exists, false);
    assert.equal((await cdrex(['accounts', 'list'], env)).code, 2);
  });

  test(
    'a running cluster (db start) is destroyed only with --force, which stops it',
    { timeout: 180_000 },
    async () => {
      assert.equal(summary(await cdrex(['db', 'start'], env)).running, true);
      const clusterDir = String(summary(await cdrex(['db', 'status'], env)).cluster_dir);
      const refused = await cdrex(['db', 'destroy'], env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(String(jsonLines(refused.stderr)[0]?.error), /postmaster, pid \d+, runs.*--force/);
      assert.ok(fs.existsSync(clusterDir));
      assert.equal(summary(await cdrex(['db', 'destroy', '--force'], env)).destroyed, true);
      assert.equal(fs.existsSync(clusterDir), false);
      assert.equal(statusEmbedded(dataDir).running, false);
    },
  );
});

describe('clusters of deleted checkouts (as root: /var/lib/cdrex/clusters)', () => {
  const root = process.getuid?.() === 0;

  test(
    'db destroy --orphans removes a cluster whose data directory is gone',
    { skip: !root, timeout: 180_000 },
    async () => {
      const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
      const env = { DATABASE_URL: '', CDREX_DATA_DIR: checkout, CDREX_MASTER_KEY: 'k' };
      assert.equal(summary(await cdrex(['db', 'start'], env)).running, true);
      const clusterDir = String(summary(await cdrex(['db', 'status'], env)).cluster_dir);
      after(() => fs.rmSync(clusterDir, { recursive: true, force: true }));
      assert.ok(clusterDir.startsWith(`${ROOT_CLUSTERS_DIR}/`), clusterDir);
      // A checkout deleted while its cluster still runs.
      fs.rmSync(checkout, { recursive: true, force: true });
      // And a broken one (half removed, or half made by a process killed mid-initdb), which
      // pg_ctl refuses to stop: "is not a database cluster directory".
      const brokenCheckout = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-first-hour-'));
      const brokenEnv = { ...env, CDREX_DATA_DIR: brokenCheckout };
      assert.equal(summary(await cdrex(['db', 'start'], brokenEnv)).running, true);
      const brokenDir = String(summary(await cdrex(['db', 'status'], brokenEnv)).cluster_dir);
      after(() => fs.rmSync(brokenDir, { recursive: true, force: true }));
      fs.rmSync(brokenCheckout, { recursive: true, force: true });
      fs.rmSync(path.join(brokenDir, 'pgdata', 'PG_VERSION'));
      const elsewhere = embeddedDataDir();
      const other = { DATABASE_URL: '', CDREX_DATA_DIR: elsewhere, CDREX_MASTER_KEY: 'k' };
      const careful = summary(await cdrex(['db', 'destroy', '--orphans'], other));
      assert.ok(
        (careful.running as string[]).includes(clusterDir),
        'a running orphan is left without --force',
      );
      assert.ok(fs.existsSync(clusterDir));
      const forced = summary(await cdrex(['db', 'destroy', '--orphans', '--force'], other));
      assert.ok((forced.removed as string[]).includes(clusterDir), JSON.stringify(forced));
      assert.equal(fs.existsSync(clusterDir), false);
      assert.ok((forced.removed as string[]).includes(brokenDir), JSON.stringify(forced));
      assert.equal(fs.existsSync(brokenDir), false);
    },
  );
});
