// The embedded PostgreSQL stays up without an operator: `cdrex serve` restarts a dead postmaster,
// waits for a server that is still starting instead of moving its port, `cdrex db start` pins the
// cluster, and dead or zombie processes are not users. Each test has a data dir and a cluster of
// its own, stopped in teardown.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { cdrex, CDREX_BIN, ROOT_CLUSTERS_DIR, summary } from '../helpers/cli.js';
import { freePort, waitFor } from '../helpers/server.js';

const isRoot = process.getuid?.() === 0;
const now = new Date();
const filters = { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1 };

interface Cluster {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** postmaster.pid of the cluster (its location depends on whether we run as root). */
  pidFile(): string;
  port(): number;
  status(): Promise<{ running: boolean; users: number; pinned: boolean; port: number }>;
  /** `cdrex serve`, or another long-running command (`worker`) when args are given. */
  serve(args?: string[]): Promise<Serve>;
}

interface Serve {
  child: ChildProcess;
  port: number;
  log(): string;
  healthy(): Promise<boolean>;
}

const servers: ChildProcess[] = [];
const dataDirs: string[] = [];
after(async () => {
  for (const child of servers)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dataDir of dataDirs) {
    const env = { DATABASE_URL: '', CDREX_DATA_DIR: dataDir, CDREX_MASTER_KEY: 'k' };
    const cluster = readJson(path.join(dataDir, 'cluster.json')) as { id: string } | undefined;
    if (cluster) {
      // In case a test stopped its postmaster and failed before resuming it.
      const pid = Number(readText(path.join(pgdataOf(dataDir, cluster.id), 'postmaster.pid')).split('\n')[0]);
      if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    await cdrex(['db', 'stop', '--force'], env);
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (cluster) fs.rmSync(path.join(ROOT_CLUSTERS_DIR, cluster.id), { recursive: true, force: true });
  }
});

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

function pgdataOf(dataDir: string, id: string): string {
  return isRoot ? path.join(ROOT_CLUSTERS_DIR, id, 'pgdata') : path.join(dataDir, 'pg', 'pgdata');
}

/** A running process: not gone, not a zombie. */
function alive(pid: number): boolean {
  const stat = pid > 0 ? readText(`/proc/${pid}/stat`) : '';
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2).charAt(0) !== 'Z';
}

function newCluster(): Cluster {
  // Under the home folder (as root: /root, where the postgres user cannot go).
  const dataDir = fs.mkdtempSync(path.join(os.homedir(), '.cdrex-supervision-test-'));
  dataDirs.push(dataDir);
  const env: NodeJS.ProcessEnv = { DATABASE_URL: '', CDREX_DATA_DIR: dataDir, CDREX_MASTER_KEY: 'k' };
  const clusterFile = () => readJson(path.join(dataDir, 'cluster.json')) as { id: string; port: number };
  return {
    dataDir,
    env,
    pidFile: () => path.join(pgdataOf(dataDir, clusterFile().id), 'postmaster.pid'),
    port: () => clusterFile().port,
    status: async () => summary(await cdrex(['db', 'status'], env)) as Awaited<ReturnType<Cluster['status']>>,
    async serve(args = ['serve']) {
      const port = await freePort();
      let log = '';
      const child = spawn(process.execPath, [CDREX_BIN, ...args], {
        env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      servers.push(child);
      return {
        child,
        port,
        log: () => log,
        healthy: async () => {
          const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
          await res?.body?.cancel();
          return res?.status === 200;
        },
      };
    },
  };
}

const postmasterPid = (cluster: Cluster) => Number(readText(cluster.pidFile()).split('\n')[0]);
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

async function stopServe(serve: Serve): Promise<void> {
  if (!running(serve.child)) return;
  const exited = new Promise((r) => serve.child.once('exit', r));
  serve.child.kill('SIGTERM');
  await exited;
}

test('SIGKILL of the embedded postmaster under cdrex serve and a worker: restarted once, healthy again, exports complete', async (t: TestContext) => {
  const cluster = newCluster();
  const serve = await cluster.serve();
  await waitFor(serve.healthy, 'cdrex serve on the embedded store', 60_000);
  const worker = await cluster.serve(['worker']);
  await waitFor(async () => /cdrex worker running/.test(worker.log()), 'cdrex worker', 60_000);
  const account = summary(await cdrex(['accounts', 'create', '--name', 'supervised'], cluster.env));
  const port = cluster.port();
  const killed = postmasterPid(cluster);
  const since = Date.now();
  process.kill(killed, 'SIGKILL');
  // A restarted server has another postmaster; /healthz answers through the new one.
  await waitFor(
    async () => {
      assert.ok(running(serve.child), `cdrex serve exited:\n${serve.log().slice(-3000)}`);
      assert.ok(running(worker.child), `cdrex worker exited:\n${worker.log().slice(-3000)}`);
      const pid = postmasterPid(cluster);
      // The restarter logs "up again" when its own readiness poll sees the server, which can be
      // a moment after /healthz already answers through the new postmaster: wait for both.
      const logged = /the embedded PostgreSQL is up again/.test(serve.log() + worker.log());
      return pid !== killed && alive(pid) && logged && (await serve.healthy());
    },
    'cdrex serve to restart the embedded PostgreSQL',
    60_000,
  );
  t.diagnostic(`healthy again ${Date.now() - since} ms after the SIGKILL`);
  const restarts = (serve.log() + worker.log()).match(/the embedded PostgreSQL is up again/g) ?? [];
  assert.equal(restarts.length, 1, 'one process restarted it; the other found it alive');
  assert.match(serve.log() + worker.log(), /postmaster is gone; restarting it/);
  assert.equal(cluster.port(), port, 'the port did not change');
  // The pools reconnect by themselves: an export (the app and worker pools) completes.
  const key = String(account.api_key);
  const created = await fetch(`http://127.0.0.1:${serve.port}/v3/exports`, {
    method: 'POST',
    headers: { 'Api-Key': key, 'Content-Type': 'application/vnd.api+json' },
    body: JSON.stringify({ data: { type: 'exports', attributes: { export_type: 'cdr_in', filters } } }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const id = ((await created.json()) as { data: { id: string } }).data.id;
  await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${serve.port}/v3/exports/${id}`, {
        headers: { 'Api-Key': key },
      });
      // Polled faster than the default rate limit (429), or a connection that died with the
      // old postmaster answering one request 503: ask again.
      if (!res.ok) return undefined;
      const body = (await res.json()) as { data: { attributes: { url: string | null } } };
      return body.data.attributes.url;
    },
    'the export to complete after the restart',
    60_000,
  );
  await stopServe(worker);
  await stopServe(serve);
  assert.equal((await cluster.status()).running, false, 'serve, the last one out, stopped it');
});

test('cdrex db stop is obeyed: serve does not restart the cluster until the next start', async () => {
  const cluster = newCluster();
  const serve = await cluster.serve();
  await waitFor(serve.healthy, 'cdrex serve on the embedded store', 60_000);
  // serve uses it: only --force stops it under a server (without, db stop refuses).
  assert.deepEqual(summary(await cdrex(['db', 'stop', '--force'], cluster.env)), { stopped: true });
  await waitFor(
    async () => /stopped by `cdrex db stop`; not restarting it/.test(serve.log()),
    'the supervisor to notice the stop',
    30_000,
  );
  assert.equal((await cluster.status()).running, false);
  assert.ok(running(serve.child), 'serve stays up, answering 503');
  assert.equal(summary(await cdrex(['db', 'start'], cluster.env)).running, true);
  await waitFor(serve.healthy, 'cdrex serve, healthy after db start', 60_000);
  await stopServe(serve);
  assert.equal((await cluster.status()).running, true, 'db start pinned it');
});

test('cdrex db start pins the cluster: a command leaving does not stop it, until cdrex db stop', async () => {
  const cluster = newCluster();
  const started = summary(await cdrex(['db', 'start'], cluster.env));
  assert.equal(started.running, true);
  const migrated = await cdrex(['migrate'], cluster.env);
  assert.equal(migrated.code, 0, migrated.stderr);
  const status = await cluster.status();
  assert.equal(status.running, true, 'the cluster `cdrex db start` started is still running');
  assert.equal(started.pinned, true);
  assert.equal(status.pinned, true);
  assert.deepEqual(summary(await cdrex(['db', 'stop'], cluster.env)), { stopped: true });
  assert.equal((await cluster.status()).pinned, false);
  // Unpinned, the last one out stops it again.
  assert.equal((await cdrex(['migrate'], cluster.env)).code, 0);
  assert.equal((await cluster.status()).running, false);
});

test('dead and zombie pids under run/ are not users: pruned, and the last real user stops the cluster', async () => {
  const cluster = newCluster();
  const runDir = path.join(cluster.dataDir, 'run');
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  // A pid that has exited and been reaped.
  const gone = spawn('true');
  await new Promise((r) => gone.once('exit', r));
  // A zombie: `sh` starts `sleep 1`, then becomes `sleep 60`, which never reaps its child. The
  // child outlives the exec: one that ended first (`sleep 0`, on a busy machine) could be reaped
  // by `sh` itself, and then there is no zombie to find.
  const parent = spawn('sh', ['-c', 'sleep 1 & echo $!; exec sleep 60'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  after(() => parent.kill('SIGKILL'));
  const zombie = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  const state = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return ''; // reaped
    }
  };
  await waitFor(async () => state(zombie).includes(') Z'), 'a zombie process', 10_000);
  for (const pid of [gone.pid, zombie]) fs.writeFileSync(path.join(runDir, String(pid)), '');

  const migrated = await cdrex(['migrate'], cluster.env);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.equal((await cluster.status()).running, false, 'the last live process out stopped the cluster');
  assert.deepEqual(
    fs.readdirSync(runDir).filter((name) => /^\d+$/.test(name)),
    [],
    'stale entries were pruned',
  );
});

test('a postmaster still starting (crash recovery) is waited for: serve keeps its port and its cluster', async () => {
  const cluster = newCluster();
  assert.equal(summary(await cdrex(['db', 'start'], cluster.env)).running, true);
  const port = cluster.port();
  const pid = postmasterPid(cluster);
  // A server in crash recovery: its postmaster lives and holds the port, its status line says
  // "starting", and it accepts no connections (stopped, it cannot answer).
  const pidFile = cluster.pidFile();
  const setStatus = (status: string) => {
    const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
    lines[7] = status.padEnd(8);
    fs.writeFileSync(pidFile, lines.join('\n'));
  };
  process.kill(pid, 'SIGSTOP');
  setStatus('starting');
  try {
    const serve = await cluster.serve();
    await waitFor(
      async () => !running(serve.child) || /is starting \(in crash recovery\?\); waiting/.test(serve.log()),
      'cdrex serve to wait for the starting server, or to give up',
      60_000,
    );
    assert.equal(cluster.port(), port, 'cluster.json keeps the port the starting postmaster holds');
    assert.ok(running(serve.child), `cdrex serve is still waiting:\n${serve.log().slice(-3000)}`);
    assert.ok(alive(pid), 'the starting postmaster was left alone');

    // Recovery ends.
    process.kill(pid, 'SIGCONT');
    setStatus('ready');
    await waitFor(serve.healthy, 'cdrex serve, once the server is ready', 60_000);
    assert.equal(postmasterPid(cluster), pid, 'the same postmaster serves');
    assert.equal(cluster.port(), port);
    await stopServe(serve);
    assert.equal((await cluster.status()).running, true, 'pinned by db start: serve leaving did not stop it');
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGCONT');
  }
});
