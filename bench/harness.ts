// What `npm run bench` and `npm run loadtest` share: a store of their own (a database on
// DATABASE_URL, or an embedded cluster started for the run), the `cdrex` command, a `cdrex serve`
// child process, timing, RSS sampling, and export round trips. Everything made is removed by
// cleanup().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { LatencyPlan } from './latency-probe.js';

export const execFileAsync = promisify(execFile);
export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const BIN = path.join(ROOT, 'bin', 'cdrex.js');

const now = new Date();
export const MONTH = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
export const MONTH_START = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
export const MONTH_END = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
export const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * p) - 1)];

export function logger(tag: string) {
  return (msg: string) => process.stderr.write(`[${tag}] ${msg}\n`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/**
 * Latency samples of GET requests: `urls` requested in turn, `samples` times each, after a warm-up
 * (WARM_UP_MS unless given), by bench/latency-probe.ts in a process of its own. One array per URL.
 * fetch() added about 0.5 ms to each request's p50 on the project's machine, so the probe uses
 * http.get; and the bench process's own collections would count as the server's tail.
 */
export async function timeRequests(
  headers: Record<string, string>,
  urls: string[],
  samples: number,
  warmUpMs = WARM_UP_MS,
): Promise<number[][]> {
  const plan: LatencyPlan = { headers, urls, samples, warmUpMs };
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', PROBE], {
    env: { ...process.env, CDREX_LATENCY_PLAN: JSON.stringify(plan) },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as number[][];
}
const PROBE = path.join(ROOT, 'bench', 'latency-probe.ts');
/**
 * For V8 to optimise the request path and for the first old-space collections to pass. 3 s was
 * too short: on this machine (docs/performance.md) a series of 1,000 pages timed 3 s after the
 * server started had a p50 ~25% and /healthz's p50 ~50% above the same series timed 20 s later,
 * whichever page came first. 15 s narrows that gap without closing it (p50 2.7-2.8 against
 * 2.1-2.3 ms, two starts).
 */
const WARM_UP_MS = 15_000;
/** Samples per latency figure: its p99 is the 10th slowest, not the 2nd (one stray pause). */
export const LATENCY_SAMPLES = 1000;

/** Resident set size of a process in MB, from /proc; undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak RSS of a process while fn runs, sampled every 20 ms. */
export async function peakRss<T>(pid: number, fn: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peak = 0;
  const sample = () => (peak = Math.max(peak, rssMb(pid) ?? 0));
  const timer = setInterval(sample, 20);
  try {
    const value = await fn();
    sample();
    return { value, peakMb: peak };
  } finally {
    clearInterval(timer);
  }
}

export interface Harness {
  databaseUrl: string;
  env: NodeJS.ProcessEnv;
  work: string;
  /** The `cdrex` command; returns the JSON line it printed last. `extraEnv` overrides the run's. */
  cli(argv: string[], extraEnv?: Record<string, string>): Promise<Record<string, unknown>>;
  /** Runs a shell pipeline; `vars` reach it as environment variables (no quoting games). */
  sh(script: string, vars?: Record<string, string>): Promise<void>;
  /** Starts `cdrex serve` and waits for /healthz; returns its base URL and process. */
  serve(extraEnv?: Record<string, string>): Promise<{ base: string; child: ChildProcess }>;
  cleanup(): Promise<void>;
}

// Where a run's store lives: DATABASE_URL (or an embedded cluster of its own), or, with
// CDREX_BENCH_STORE=citus (`npm run bench -- --citus`), a 3-node Citus cluster started for the
// run on this machine (docs/scale-out.md).

const CITUS_CLUSTER_SH = process.env.CDREX_CITUS_VENDOR
  ? path.join(process.env.CDREX_CITUS_VENDOR, 'cluster.sh')
  : '/work/shared/vendor/citus/cluster.sh';
// Not 5450, which .ci/run's Citus step uses.
const CITUS_PORT = Number(process.env.CDREX_BENCH_CITUS_PORT ?? 5480);

/** Starts a coordinator and two workers (the vendor's cluster.sh) in a folder of the run's own;
 * returns the coordinator's URL (its `postgres` database, where the workers are registered). */
async function startCitus(dir: string): Promise<string> {
  const { stdout } = await execFileAsync(CITUS_CLUSTER_SH, ['start', dir, String(CITUS_PORT)]);
  return stdout.trim().split('\n').pop()!;
}

/** The run's database: its URL, and how to remove what was made for it. */
interface BenchStore {
  databaseUrl: string;
  remove(): Promise<void>;
}

/** A 3-node Citus cluster of the run's own: its `postgres` database is the store. */
async function citusStore(tag: string, log: (m: string) => void): Promise<BenchStore> {
  const dir = fs.mkdtempSync(path.join('/var/tmp', `cdrex-${tag}-citus-`));
  const databaseUrl = await startCitus(dir);
  log(`citus cluster in ${dir}, coordinator ${databaseUrl}`);
  return {
    databaseUrl,
    async remove() {
      await execFileAsync(CITUS_CLUSTER_SH, ['stop', dir]).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new database on DATABASE_URL's server (or beside a run's database), dropped at the end. */
export async function serverStore(tag: string, serverUrl: string): Promise<BenchStore> {
  const name = `cdrex_${tag}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    async remove() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** An embedded cluster of the run's own (`cdrex db start`), stopped and deleted at the end. */
async function embeddedStore(log: (m: string) => void): Promise<BenchStore> {
  const dataDir = path.join(ROOT, 'bench', '.data', randomBytes(4).toString('hex'));
  const env = { ...process.env, CDREX_DATA_DIR: dataDir, DATABASE_URL: '' };
  fs.mkdirSync(dataDir, { recursive: true });
  const started = await execFileAsync(process.execPath, [BIN, 'db', 'start'], { env });
  const cluster = JSON.parse(fs.readFileSync(path.join(dataDir, 'cluster.json'), 'utf8')) as {
    id: string;
    port: number;
    password: string;
  };
  log(`embedded cluster ${started.stdout.trim()}`);
  return {
    databaseUrl: `postgres://postgres:${cluster.password}@127.0.0.1:${cluster.port}/postgres`,
    async remove() {
      await execFileAsync(process.execPath, [BIN, 'db', 'stop'], { env }).catch(() => {});
      fs.rmSync(path.join('/var/lib/cdrex/clusters', cluster.id), { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts `cdrex serve` and waits for its /healthz. */
async function startServe(
  env: NodeJS.ProcessEnv,
  extraEnv: Record<string, string>,
  children: ChildProcess[],
) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...env, PORT: String(port), CDREX_PUBLIC_URL: base, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child); // stopped at cleanup, even when it never answers
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 600) throw new Error('cdrex serve did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, child };
}

/** A fresh store and working folder; `env` is what every cdrex process of the run gets. */
export async function openHarness(tag: string, env: Record<string, string>): Promise<Harness> {
  const citus = process.env.CDREX_BENCH_STORE === 'citus';
  const log = logger(tag);
  // Measure the compiled server, as `npm start` runs it, never a stale build or the tsx fallback.
  await execFileAsync(process.execPath, [path.join(ROOT, 'scripts', 'build-server.mjs')]);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `cdrex-${tag}-`));
  const store = citus
    ? await citusStore(tag, log)
    : process.env.DATABASE_URL
      ? await serverStore(tag, process.env.DATABASE_URL)
      : await embeddedStore(log);
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: store.databaseUrl,
    CDREX_DATA_DIR: path.join(work, 'data'),
    CDREX_MASTER_KEY: tag,
    LOG_LEVEL: 'warn',
    ...(citus ? { CDREX_CITUS: '1' } : {}),
    ...env,
  };
  const children: ChildProcess[] = [];
  if (citus) {
    const { stdout } = await execFileAsync(process.execPath, [BIN, 'db', 'distribute'], { env: fullEnv });
    log(`distributed: ${stdout.trim().split('\n').pop()}`);
  }

  return {
    databaseUrl: store.databaseUrl,
    env: fullEnv,
    work,
    async cli(argv, extraEnv = {}) {
      const { stdout } = await execFileAsync(process.execPath, [BIN, ...argv], {
        env: { ...fullEnv, ...extraEnv },
        maxBuffer: 1 << 20,
      });
      return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    },
    async sh(script, vars = {}) {
      await execFileAsync('bash', ['-o', 'pipefail', '-c', script], {
        env: { ...fullEnv, PGTZ: 'UTC', ...vars },
        maxBuffer: 1 << 20,
      });
    },
    serve: (extraEnv = {}) => startServe(fullEnv, extraEnv, children),
    async cleanup() {
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await store.remove().catch(() => {});
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** POST /v3/exports for this month's inbound CDRs; returns the export id. */
export async function createExport(base: string, key: string): Promise<string> {
  const res = await fetch(`${base}/v3/exports`, {
    method: 'POST',
    headers: { 'Api-Key': key, 'Content-Type': 'application/vnd.api+json' },
    body: JSON.stringify({
      data: {
        type: 'exports',
        attributes: {
          export_type: 'cdr_in',
          filters: { year: MONTH_START.getUTCFullYear(), month: MONTH_START.getUTCMonth() + 1 },
        },
      },
    }),
  });
  if (res.status !== 201) throw new Error(`create export: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: { id: string } }).data.id;
}

/**
 * Waits for an export to complete; returns its file URL. Asks every 100 ms, as a client in a hurry
 * would: asking every 10 ms put 100 requests a second (each an auth lookup and a query) on the
 * same process and database as the export being timed, a cost the baseline never pays. The
 * answer is at most 100 ms late, which counts against cdrex.
 */
export async function exportUrl(base: string, key: string, id: string): Promise<string> {
  for (;;) {
    const res = await fetch(`${base}/v3/exports/${id}`, { headers: { 'Api-Key': key } });
    const attrs = ((await res.json()) as { data: { attributes: { status: string; url: string | null } } })
      .data.attributes;
    if (attrs.status === 'Completed' && attrs.url) return attrs.url;
    if (attrs.status === 'Failed') throw new Error('export failed');
    await new Promise((r) => setTimeout(r, 100));
  }
}
