// Opens the store: the server named by DATABASE_URL, or the embedded cluster.
import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { attachEmbedded } from './embedded.js';
import { migrate } from './migrate.js';
import { ensureDefaultPartitions } from './partitions.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface Store {
  pool: pg.Pool;
  url: string;
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
  poolSize?: number;
}

export async function openStore(config: Config, log: Logger, options: OpenOptions = {}): Promise<Store> {
  let url = config.databaseUrl;
  let release = async () => {};
  if (!url) {
    const embedded = await attachEmbedded(config.dataDir);
    url = embedded.url;
    release = embedded.release;
  }
  const pool = createPool(url, log, { max: options.poolSize, connectTimeoutMs: config.dbConnectTimeoutMs });
  try {
    if (options.migrate !== false) {
      await migrate(pool, log);
      await ensureDefaultPartitions(pool);
    }
  } catch (err) {
    await pool.end();
    await release();
    throw err;
  }
  let closed = false;
  return {
    pool,
    url,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
      await release();
    },
  };
}
