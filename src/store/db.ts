// Opens the store: the server named by DATABASE_URL, or the embedded cluster.
import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { distribute } from './citus.js';
import { attachEmbedded } from './embedded.js';
import { migrate } from './migrate.js';
import { ensureDefaultPartitions } from './partitions.js';
import { resolveRoles, type RoleUrls } from './roles.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** The store opened as its two runtime roles: one pool per role, and their URLs. Not the app's `app.store`
 * (src/app.ts AppStore), which holds the request pools, configuration and clock. */
export interface RolePools {
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
  /** Connections kept open however long they sit idle (pg-pool's `min`; opened on demand, never
   * in advance). A new connection's first queries cost far more than later ones: its backend
   * loads the catalog for every partition the statement touches and plans it (22 ms for a Kazoo
   * page on PostgreSQL 15, against 1 ms on a warm one). */
  warm?: number;
  /** How long a connection beyond `warm` may sit idle before it is closed (default 30 s). */
  idleTimeoutMs?: number;
  /** Server-side statement_timeout; also bounds, client-side, a query on a connection gone silent. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** The server-side tcp_user_timeout, and what TCP keepalive probing starts from (a third of
   * it, at most 10 s): how long a silent peer may hold a connection. 0 turns both off. */
  tcpTimeoutMs?: number;
}

/** Grace beyond statement_timeout before the client gives up on a server that no longer answers. */
const SILENT_SERVER_GRACE_MS = 2000;
export const DEFAULT_TCP_TIMEOUT_MS = 30_000;

/**
 * Every client the pool opens gets an `error` listener for its whole life. pg-pool listens on
 * idle clients only and removes its listener while a client is checked out, so a socket error
 * on a checked-out client (pg_terminate_backend, a restart, a failover) would otherwise be an
 * unhandled 'error' event and end the process. With this listener the error fails only the
 * query in flight; the pool discards the client when it is released.
 */
function guardClients(pool: pg.Pool, log?: Logger): void {
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.warn({ err }, 'database connection lost'));
  });
  // pg-pool re-emits an idle client's error on the pool; the listener above has logged it.
  pool.on('error', () => {});
}

// bigint (count(*), sums) and numeric stay strings unless converted on purpose: money is
// never turned into a binary float, and counts are converted where they are read.
export function createPool(url: string, log?: Logger, options: PoolOptions = {}): pg.Pool {
  const timeout = options.statementTimeoutMs;
  const tcpTimeout = options.tcpTimeoutMs ?? DEFAULT_TCP_TIMEOUT_MS;
  // The server gives up on a connection whose sent data stays unacknowledged this long
  // (tcp_user_timeout, a per-session setting any role may set; ignored on Unix sockets).
  const settings = [
    '-c timezone=UTC', // UTC for every session: COPY parses and prints `YYYY-MM-DD HH:MM:SS` in UTC.
    '-c datestyle=ISO,YMD',
    ...(timeout ? [`-c statement_timeout=${timeout}`] : []),
    ...(tcpTimeout ? [`-c tcp_user_timeout=${tcpTimeout}`] : []),
  ];
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    min: options.warm ?? 0,
    options: settings.join(' '),
    ...(timeout ? { query_timeout: timeout + SILENT_SERVER_GRACE_MS } : {}),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    // A peer that vanished without a FIN is noticed by TCP keepalive, not by waiting forever;
    // probing starts after seconds, not the system's default two hours.
    keepAlive: tcpTimeout > 0,
    keepAliveInitialDelayMillis: Math.min(10_000, Math.max(1000, Math.floor(tcpTimeout / 3))),
    application_name: 'cdrex',
  } as pg.PoolConfig);
  guardClients(pool, log);
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
export async function openStore(config: Config, log: Logger, options: OpenOptions = {}): Promise<RolePools> {
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
        // Before the partitions: each one made after is distributed as it is attached.
        if (config.citus) await distribute(owner, log, { shardCount: config.citusShards });
        await ensureDefaultPartitions(owner);
      } finally {
        await owner.end();
      }
    }
    const connectTimeoutMs = config.dbConnectTimeoutMs;
    const tcpTimeoutMs = config.dbTcpTimeoutMs;
    worker = createPool(urls.worker, log, { max: options.poolSize, connectTimeoutMs, tcpTimeoutMs });
    // An export's slices read on `app`: connections kept warm spare the next export, minutes
    // later, a new backend's first COPY (mapping shared_buffers page by page: 0.7-1.3 s of a 1M-row
    // month on PostgreSQL 15 after 35 s idle, against an export of 2.6 s back to back).
    app = createPool(urls.app, log, {
      max: options.poolSize,
      connectTimeoutMs,
      tcpTimeoutMs,
      warm: config.exportSlices,
    });
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
