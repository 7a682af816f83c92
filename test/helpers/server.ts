// A cdrex server (HTTP on a free loopback port, plus a worker) inside the test process, over the
// test file's own database. The clock is taken once, so a run near midnight on the 1st of a month
// cannot flake.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { pipeline } from 'node:stream/promises';
import { loadConfig, type Config } from '../../src/config.js';
import { generateCsv } from '../../src/ingest/generate.js';
import { importDidwwCsv } from '../../src/ingest/didww-csv.js';
import { ingestWindow } from '../../src/ingest/window.js';
import { TASKS } from '../../src/jobs/tasks.js';
import { Worker } from '../../src/jobs/worker.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import type { CdrKind } from '../../src/store/queries/cdrs.js';
import type { SpawnedCdrex } from './cli.js';
import type { TestDatabase } from './db.js';
import { send } from './http.js';

export const NOW = new Date();
export const THIS_YEAR = NOW.getUTCFullYear();
export const THIS_MONTH = NOW.getUTCMonth() + 1;
export const MONTH_START = new Date(Date.UTC(THIS_YEAR, THIS_MONTH - 1, 1));
export const MASTER_KEY = 'test-master-key';
/** The key testEnv's CDREX_MASTER_KEY derives, so accounts made in the test process serve the
 * `cdrex` processes it starts too. */
export const TEST_MASTER_KEY = createHash('sha256').update(MASTER_KEY).digest();

/** An account made in the test process, for a file whose subject is not `cdrex accounts create`
 * (a spawned command is about half a second of CPU). */
export function newAccountIn(
  db: TestDatabase,
  name: string,
): Promise<{ account_id: string; api_key: string }> {
  return createAccount(db.pool, TEST_MASTER_KEY, name);
}

export interface TestServer {
  base: string;
  config: Config;
  app: FastifyInstance;
  worker?: Worker;
  db: TestDatabase;
  newAccount(name?: string): Promise<{ account_id: string; api_key: string }>;
  seed(accountId: string, kind: CdrKind, rows: number, seed?: number): Promise<number>;
  /** POST /v3/exports; returns the export id. */
  createExport(apiKey: string, attributes: Record<string, unknown>): Promise<string>;
  /** Waits for the export to complete; returns its file URL. */
  exportFileUrl(apiKey: string, id: string): Promise<string>;
}

export function testEnv(
  db: TestDatabase,
  dataDir: string,
  env: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: db.url,
    CDREX_DATA_DIR: dataDir,
    CDREX_MASTER_KEY: MASTER_KEY,
    CDREX_RATE_LIMIT: '100000',
    // Suites send many bad credentials on purpose; test/api/request-limits.test.ts sets a low one.
    CDREX_AUTH_FAIL_LIMIT: '100000',
    // Suites send concurrent requests and uploads of one account; test/api/tenant-starvation.test.ts
    // sets low caps.
    CDREX_REQUESTS_PER_ACCOUNT: '100000',
    CDREX_UPLOADS_PER_ACCOUNT: '100000',
    CDREX_POLL_MS: '50',
    CDREX_LEASE_MS: '3000',
    CDREX_CALLBACK_DELAYS: '1,1,1',
    CDREX_CALLBACK_TIMEOUT_MS: '3000',
    CDREX_CALLBACK_ALLOW_HOSTS: '127.0.0.1',
    ...env,
  };
}

export async function startServer(
  db: TestDatabase,
  options: { worker?: boolean; env?: Record<string, string> } = {},
): Promise<TestServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-test-'));
  const config = loadConfig(testEnv(db, dataDir, options.env));
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const masterKey = TEST_MASTER_KEY;
  const app = await buildApp(
    { pool: db.app, streamPool: db.app, workerPool: db.worker, config, masterKey, now: () => NOW },
    log,
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const base = `http://127.0.0.1:${port}`;
  config.publicUrl = base;
  let worker: Worker | undefined;
  if (options.worker !== false) {
    worker = new Worker({
      pool: db.worker,
      appPool: db.app,
      url: db.roles.worker,
      config,
      log,
      masterKey,
      tasks: TASKS,
    });
    worker.start();
  }
  after(async () => {
    await worker?.stop(2000);
    // Every test is over: no request is left to drain. A connection a test's client abandoned
    // would otherwise hold the close for the keep-alive timeout (72 s in Fastify).
    const closing = app.close();
    app.server.closeAllConnections();
    await closing;
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    base,
    config,
    app,
    worker,
    db,
    newAccount: (name = 'test') => createAccount(db.pool, masterKey, name),
    createExport: (apiKey, attributes) => createExport(base, apiKey, attributes),
    exportFileUrl: (apiKey, id) => exportFileUrl(base, apiKey, id, `export ${id} to complete`),
    async seed(accountId, kind, rows, seed = 1) {
      const csv = generateCsv({ kind, month: MONTH_START, rows, seed });
      const result = await importDidwwCsv(db.pool, csv, { accountId, kind, source: 'generate' });
      return result.inserted;
    },
  };
}

/** Writes to `out` what `cdrex generate --month <this month> --type --rows --seed --now --out`
 * writes with `env`, made in this process (the files whose subject is not `generate`). */
export async function writeGenerated(
  out: string,
  env: NodeJS.ProcessEnv,
  options: { kind: CdrKind; rows: number; seed: number; now: Date },
): Promise<string> {
  const window = ingestWindow(loadConfig(env));
  await pipeline(generateCsv({ ...options, month: MONTH_START, window }), fs.createWriteStream(out));
  return out;
}

/** Polls until fn returns a truthy value (tests may wait generously; they never time speed). */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until a spawned `cdrex serve` answers /healthz on `base`. A child that exits first, or
 * never answers, fails the test at once with the end of its stderr: a bare timeout said nothing
 * of why (a port taken meanwhile, a store refusing connections).
 */
export async function untilServing(child: SpawnedCdrex, base: string, timeoutMs = 30_000): Promise<void> {
  const exited = () => child.proc.exitCode !== null || child.proc.signalCode !== null;
  try {
    await waitFor(
      async () => {
        if (exited()) throw new Error(`it exited (${child.proc.exitCode ?? child.proc.signalCode})`);
        return (await fetch(`${base}/healthz`).catch(() => undefined))?.ok;
      },
      `${base} to serve`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`cdrex on ${base} did not serve: ${(err as Error).message}\n${child.tail()}`, {
      cause: err,
    });
  }
}

/** POST /v3/exports on `base` (any cdrex serve); returns the export id. */
export async function createExport(
  base: string,
  apiKey: string,
  attributes: Record<string, unknown>,
): Promise<string> {
  const res = await send<{ data: { id: string } }>(`${base}/v3/exports`, {
    method: 'POST',
    headers: { 'Api-Key': apiKey, 'Content-Type': 'application/vnd.api+json' },
    body: { data: { type: 'exports', attributes } },
  });
  if (res.status !== 201) throw new Error(`create export: ${res.status} ${res.text}`);
  return res.json.data.id;
}

/** Waits until the export on `base` has a file; returns the file's URL. */
export function exportFileUrl(base: string, apiKey: string, id: string, what: string, timeoutMs = 30_000) {
  return waitFor(
    async () => {
      const show = await send<{ data: { attributes: { url: string | null } } }>(`${base}/v3/exports/${id}`, {
        headers: { 'Api-Key': apiKey },
      });
      return show.json.data.attributes.url;
    },
    what,
    timeoutMs,
  );
}

/** Asks `base` (any cdrex serve) for this month's inbound export and waits until it has a file;
 * returns the file's URL. */
export async function exportThisMonth(base: string, apiKey: string, what: string, timeoutMs = 60_000) {
  const id = await createExport(base, apiKey, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
  });
  return exportFileUrl(base, apiKey, id, what, timeoutMs);
}

/** A port nothing listens on now, for a `cdrex serve` the test spawns. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A callback receiver on loopback: the URLs it was called with, in order; closed after the file. */
export async function callbackReceiver(): Promise<{ received: string[]; url: string }> {
  const received: string[] = [];
  const rx = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(req.url!);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', () => r()));
  after(() => rx.close());
  return { received, url: `http://127.0.0.1:${(rx.address() as net.AddressInfo).port}/cb` };
}
