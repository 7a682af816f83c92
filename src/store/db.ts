// Opens the store: the server named by DATABASE_URL, or the embedded cluster.
import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { attachEmbedded } from './embedded.js';
import { migrate } from './migrate.js';
import { ensureDefaultPartitions } from './partitions.js';
import { resolveRoles, type RoleUrls } from './roles.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface Store {
  /** cdrex_worker: jobs, bulk loads, maintenance (BYPASSRLS). */
  worker: pg.Pool;
  /** cdrex_app without a statement timeout: exports' reads and long streams, each through
   * accountDb() so row-level security shows one account only. */
  app: pg.Pool;
  urls: RoleUrls;
  close(): Promise<void>;
}

export interface PoolOptions {
  max?: number;
  /** Server-side statement_timeout; also bounds, client-side, a query on a connection gone silent. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** Grace beyond statement_timeout before the client gives up on a server that no longer answers. */
const SILENT_SERVER_GRACE_MS = 2000;

// bigint (count(*), sums) and numeric stay strings unless converted on purpose: money is
// never turned into a binary float, and counts are converted where they are read.
export function createPool(url: string, log?: Logger, options: PoolOptions = {}): pg.Pool {
  const timeout = options.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    // UTC for every session: COPY parses and prints `YYYY-MM-DD HH:MM:SS` in UTC.
    options: `-c timezone=UTC -c datestyle=ISO,YMD${timeout ? ` -c statement_timeout=${timeout}` : ''}`,
    ...(timeout ? { query_timeout: timeout + SILENT_SERVER_GRACE_MS } : {}),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    // A peer that vanished without a FIN is noticed by TCP keepalive, not by waiting forever.
    keepAlive: true,
    application_name: 'cdrex',
  } as pg.PoolConfig);
  // An idle client whose connection drops emits 'error' on the pool; unhandled it would crash.
  pool.on('error', (err) => log?.warn({ err }, 'idle database connection lost'));
  return pool;
}

export interface OpenOptions {
  migrate?: boolean;
  /** Size of the worker's pool (jobs, loads); the app pool gets the same. */
  poolSize?: number;
}

/**
 * Opens the store as its three roles (see roles.ts): the owner migrates and creates partitions,
 * then is closed; `worker` and `app` stay open. Requests that need a statement timeout open
 * their own app pool with createPool(store.urls.app, …).
 */
export async function openStore(config: Config, log: Logger, options: OpenOptions = {}): Promise<Store> {
  let ownerUrl = config.databaseUrl;
  let release = async () => {};
  if (!ownerUrl) {
    const embedded = await attachEmbedded(config.dataDir, log);
    ownerUrl = embedded.url;
    release = embedded.release;
  }
  let urls: RoleUrls;
  let worker: pg.Pool | undefined;
  let app: pg.Pool | undefined;
  try {
    urls = await resolveRoles({
      ownerUrl,
      dataDir: config.dataDir,
      appUrl: config.appDatabaseUrl,
      workerUrl: config.workerDatabaseUrl,
    });
    if (options.migrate !== false) {
      const owner = createPool(urls.owner, log, { max: 1, connectTimeoutMs: config.dbConnectTimeoutMs });
      try {
        await migrate(owner, log);
        await ensureDefaultPartitions(owner);
      } finally {
        await owner.end();
      }
    }
    const connectTimeoutMs = config.dbConnectTimeoutMs;
    worker = createPool(urls.worker, log, { max: options.poolSize, connectTimeoutMs });
    app = createPool(urls.app, log, { max: options.poolSize, connectTimeoutMs });
  } catch (err) {
    await worker?.end();
    await app?.end();
    await release();
    throw err;
  }
  let closed = false;
  const [workerPool, appPool] = [worker, app];
  return {
    worker: workerPool,
    app: appPool,
    urls,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([workerPool.end(), appPool.end()]);
      await release();
    },
  };
}
