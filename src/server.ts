// `cdrex serve` and `cdrex worker`: open the store, listen and/or run workers, and shut down
// gracefully on SIGINT/SIGTERM (a second signal forces the exit).
import closeWithGrace from 'close-with-grace';
import { loadMasterKey } from './accounts/secrets.js';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { Worker } from './jobs/worker.js';
import { ensureScheduledJobs, TASKS } from './jobs/tasks.js';
import type { Logger } from './log.js';
import { sweepSpool } from './ingest/spool.js';
import { createPool, openStore, type Pool, type RolePools } from './store/db.js';
import { listenForMetrics } from './metrics/http.js';
import { Scraper } from './metrics/scrape.js';
import { superviseEmbedded, type Supervisor } from './store/supervisor.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * How serve and worker shut down (close-with-grace): on SIGINT, SIGTERM, SIGHUP (the terminal
 * hung up), SIGQUIT or SIGUSR2, and after an uncaught error. Not on the signals of a fault in the
 * process itself (SIGSEGV…): a JavaScript listener keeps the process from dying of those, and
 * the fault repeats forever (a crash at exit spun at full CPU, deaf to SIGTERM). Its own
 * messages (second signal, timeout) go to the log, which goes quiet when stderr is gone.
 */
function graceOptions(log: Logger): closeWithGrace.Options {
  return {
    delay: SHUTDOWN_DEADLINE_MS + 5000,
    skip: ['SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV'],
    logger: { error: (message: unknown) => log.error(message) },
  };
}
const STREAM_POOL_SIZE = 10;
/** API connections kept open while idle: two, since a page's COMMIT is still in flight on one
 * when the next request of the same client arrives (AccountDb.read). */
const API_POOL_WARM = 2;
const INGEST_POOL_SIZE = 10;
/** /readyz and /metrics read the store on two connections of their own, answering in seconds. */
const PROBE_POOL_SIZE = 2;
const PROBE_TIMEOUT_MS = 2000;

/** cdrex_worker: it sees every account's jobs and exports, of which metrics show totals only. */
function probePool(store: RolePools, config: Config, log: Logger): Pool {
  return createPool(store.urls.worker, log, {
    max: PROBE_POOL_SIZE,
    statementTimeoutMs: PROBE_TIMEOUT_MS,
    connectTimeoutMs: PROBE_TIMEOUT_MS,
    tcpTimeoutMs: config.dbTcpTimeoutMs,
  });
}

/** With CDREX_METRICS_PORT, /metrics (and /livez) on a listener of its own. */
async function metricsListener(config: Config, log: Logger, scraper: Scraper) {
  if (config.metricsPort === undefined) return undefined;
  return listenForMetrics(scraper, {
    host: config.host,
    port: config.metricsPort,
    token: config.metricsToken,
    log,
  });
}

/**
 * With the embedded PostgreSQL, watches its postmaster and restarts it when it dies (see
 * supervisor.ts); a lost connection on any of the pools makes it look at once.
 */
function supervise(config: Config, log: Logger, pools: Pool[]): Supervisor | undefined {
  if (config.databaseUrl) return undefined;
  const supervisor = superviseEmbedded(config.dataDir, log);
  for (const pool of pools) pool.on('connect', (client) => client.on('error', () => supervisor.check()));
  return supervisor;
}

// Kept whole on purpose: the pools, the worker and the server start here and are closed in the
// reverse order; one place shows both orders.
export async function serve(config: Config, log: Logger, options: { worker: boolean }): Promise<void> {
  await sweepSpool(config.dataDir, log); // spool files of processes that died mid-load
  const store = await openStore(config, log);
  // Requests get a pool of their own with a statement timeout, so a slow query answers 504/503
  // instead of holding a client; long streams and exports have pools without one.
  const apiPool = createPool(store.urls.app, log, {
    max: 20,
    // A request after a quiet half minute would otherwise find every connection closed, and pay
    // a new backend's catalog loading and planning (issue 16): a portal user clicks that slowly.
    warm: API_POOL_WARM,
    statementTimeoutMs: config.queryTimeoutMs,
    connectTimeoutMs: config.dbConnectTimeoutMs,
  });
  // Long streams (Kazoo CSV, paginate=false) get a pool of their own as well: however many of
  // them clients hold open, they never take the connections exports and callbacks read with
  // (store.app). Beyond its size, a stream waits CDREX_DB_CONNECT_TIMEOUT_MS, then gets 503.
  const streamPool = createPool(store.urls.app, log, {
    max: STREAM_POOL_SIZE,
    connectTimeoutMs: config.dbConnectTimeoutMs,
  });
  // Uploads and FreeSWITCH posts (bulk loads as cdrex_worker) get one too: slow senders holding
  // all of it never take the connections the job worker claims and exports with (store.worker).
  const ingestPool = createPool(store.urls.worker, log, {
    max: INGEST_POOL_SIZE,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    tcpTimeoutMs: config.dbTcpTimeoutMs,
  });
  const probe = probePool(store, config, log);
  const supervisor = supervise(config, log, [store.worker, store.app, apiPool, streamPool, ingestPool]);
  const masterKey = loadMasterKey(config);
  // Pools by what they serve; `worker` and `export` are the job worker's (idle without one).
  const scraper = new Scraper({
    pools: { app: apiPool, stream: streamPool, ingest: ingestPool, worker: store.worker, export: store.app },
    probe,
    tasks: Object.keys(TASKS),
  });
  const app = await buildApp(
    {
      pool: apiPool,
      streamPool,
      workerPool: ingestPool,
      config,
      masterKey,
      now: () => new Date(),
      probePool: probe,
      scraper,
    },
    log,
  );
  let worker: Worker | undefined;
  let metrics: Awaited<ReturnType<typeof metricsListener>>;
  // One shutdown, run at most once: a pool ended twice throws.
  let closing: Promise<void> | undefined;
  const closeAll = () =>
    (closing ??= (async () => {
      supervisor?.stop();
      metrics?.close();
      await Promise.all([app.close(), worker?.stop(SHUTDOWN_DEADLINE_MS)]);
      await Promise.all([apiPool.end(), streamPool.end(), ingestPool.end(), probe.end()]);
      await store.close();
    })());
  const grace = closeWithGrace(graceOptions(log), async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error');
    else log.info({ signal }, 'shutting down');
    await closeAll();
  });
  let listening = SERVE_PORT;
  try {
    await app.listen({ port: config.port, host: config.host });
    listening = METRICS_PORT;
    metrics = await metricsListener(config, log, scraper);
  } catch (err) {
    // Nothing else would end the process (pools, the supervisor): close it all and say why. The
    // grace handler goes first: on exit it would close again and exit 0 over the CLI's exit 1.
    grace.uninstall();
    await closeAll();
    throw new ListenError(config, err as NodeJS.ErrnoException, listening);
  }
  if (options.worker) {
    await ensureScheduledJobs(store.worker);
    worker = newWorker(store, config, log, masterKey);
    worker.start();
  }
  log.info({ url: config.publicUrl, worker: options.worker }, 'cdrex serving');
  if (process.stderr.isTTY) process.stderr.write(`${startLine(config, store.urls.owner)}\n`);
}

/** Which of a command's listeners could not listen, and the variable that sets its port. */
interface Listening {
  command: 'serve' | 'worker';
  variable: 'PORT' | 'CDREX_METRICS_PORT';
  port: (config: Config) => number | undefined;
}
const SERVE_PORT: Listening = { command: 'serve', variable: 'PORT', port: (c) => c.port };
const METRICS_PORT: Listening = {
  command: 'serve',
  variable: 'CDREX_METRICS_PORT',
  port: (c) => c.metricsPort,
};

/** `cdrex serve` (or `worker`) could not listen; its message is the one line the command prints. */
export class ListenError extends Error {
  constructor(config: Config, err: NodeJS.ErrnoException, listening: Listening = SERVE_PORT) {
    const where = `${config.host}:${listening.port(config)}`;
    const port = listening.variable;
    const why =
      err.code === 'EADDRINUSE'
        ? `another program already listens there; stop it, or set ${port} (or HOST) to a free one`
        : err.code === 'EACCES'
          ? `not allowed to bind it (ports below 1024 need privileges); set ${port} to 1024 or above`
          : err.code === 'EADDRNOTAVAIL'
            ? `this machine has no such address; set HOST to one of its addresses (or 0.0.0.0)`
            : err.message;
    super(`cdrex ${listening.command} cannot listen on ${where}: ${why}.`, { cause: err });
  }
}

/** What a person starting `cdrex serve` in a terminal wants to know, on one line. */
export function startLine(config: Config, ownerUrl: string): string {
  const store = config.databaseUrl
    ? withoutPassword(config.databaseUrl)
    : `embedded PostgreSQL (${ownerUrl.replace(/^.*@/, '').replace(/\/.*$/, '')})`;
  return `cdrex serving ${config.publicUrl} · portal ${config.publicUrl}/ · data ${config.dataDir} · store ${store}`;
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, '@');
  }
}

/** A worker over the store's roles: bookkeeping as cdrex_worker, accounts' reads as cdrex_app. */
function newWorker(store: RolePools, config: Config, log: Logger, masterKey: Buffer): Worker {
  return new Worker({
    pool: store.worker,
    appPool: store.app,
    url: store.urls.worker,
    config,
    log,
    masterKey,
    tasks: TASKS,
  });
}

export async function runWorker(config: Config, log: Logger, options: { once: boolean }): Promise<number> {
  await sweepSpool(config.dataDir, log);
  const store = await openStore(config, log);
  const masterKey = loadMasterKey(config);
  const worker = newWorker(store, config, log, masterKey);
  await ensureScheduledJobs(store.worker);
  if (options.once) {
    try {
      await worker.runOnce();
    } finally {
      await store.close();
    }
    return 0;
  }
  const supervisor = supervise(config, log, [store.worker, store.app]);
  const probe = probePool(store, config, log);
  const scraper = new Scraper({
    pools: { worker: store.worker, export: store.app },
    probe,
    tasks: Object.keys(TASKS),
  });
  let metrics: Awaited<ReturnType<typeof metricsListener>>;
  const grace = closeWithGrace(graceOptions(log), async ({ signal }) => {
    log.info({ signal }, 'worker shutting down');
    supervisor?.stop();
    metrics?.close();
    await worker.stop(SHUTDOWN_DEADLINE_MS);
    await probe.end();
    await store.close();
  });
  try {
    metrics = await metricsListener(config, log, scraper);
  } catch (err) {
    // As in serve: the grace handler would close the pools again on exit, and exit 0.
    grace.uninstall();
    supervisor?.stop();
    await probe.end();
    await store.close();
    throw new ListenError(config, err as NodeJS.ErrnoException, { ...METRICS_PORT, command: 'worker' });
  }
  worker.start();
  log.info({ worker: worker.id }, 'cdrex worker running');
  return 0;
}
