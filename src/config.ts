// Every setting cdrex reads from the environment, checked in one place.
// docs/configuration.md lists the same names and defaults (a test compares them).
import os from 'node:os';
import { isIP } from 'node:net';
import path from 'node:path';

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  /** The request and worker roles' URLs, when a DBA made the roles (else cdrex makes them). */
  appDatabaseUrl: string | undefined;
  workerDatabaseUrl: string | undefined;
  /** CDREX_CITUS=1: distribute the store on its Citus cluster at every migration (docs/scale-out.md). */
  citus: boolean;
  /** Shards of `cdrs` when it is first distributed. */
  citusShards: number;
  dataDir: string;
  exportDir: string;
  publicUrl: string;
  masterKey: string | undefined;
  leaseMs: number;
  workerConcurrency: number;
  exportsPerAccount: number;
  /** Callback deliveries at once per process, on slots of their own (never export slots). */
  callbackConcurrency: number;
  /** Unfinished (pending or processing) exports an account may have; 422 beyond. */
  pendingExportsPerAccount: number;
  /** Concurrent long streams (Kazoo CSV, paginate=false) per account per process; 429 beyond. */
  streamsPerAccount: number;
  /** A long stream whose client has read nothing for this long is ended. */
  streamIdleMs: number;
  /** In-flight API requests (DIDWW, Kazoo) per account per process, from authentication on; 429 beyond. */
  requestsPerAccount: number;
  /** Concurrent Kazoo uploads per account per process, before the body is read; 429 beyond. */
  uploadsPerAccount: number;
  callbackDelaysS: number[];
  callbackTimeoutMs: number;
  callbackAllowHosts: string[];
  retentionDays: number;
  /** CDREX_CDR_RETENTION_MONTHS: months of CDRs kept before the current one; null keeps all. */
  cdrRetentionMonths: number | null;
  /** How often the standing retention job runs, in seconds. */
  cdrRetentionIntervalS: number;
  /** How long dropping a month partition may block ingestion, per try. */
  cdrRetentionLockTimeoutMs: number;
  /** How many times the retention tries to detach one month before the run gives up. */
  cdrRetentionLockAttempts: number;
  rateLimit: number;
  /** Posts per second per account on /ingest/* (switch CDRs), apart from the query limit. */
  ingestRateLimit: number;
  /** Failed or credential-less requests per minute per client address. */
  authFailLimit: number;
  /** Every request body but the upload routes', in KiB. */
  bodyLimitKb: number;
  uploadLimitMb: number;
  /** Fastify's trustProxy: whether and which proxies' X-Forwarded-For gives the client address. */
  trustProxy: boolean | number | string[];
  /** Earliest CDR time accepted by any ingestion path (see src/ingest/window.ts). */
  ingestFrom: Date;
  /** How far ahead of the clock a CDR time may be, in seconds. */
  ingestAheadS: number;
  /** New month partitions one HTTP load may create (CLI imports are exempt). */
  newMonthsPerLoad: number;
  tokenTtlS: number;
  /** The portal's CSV-link tokens: scoped to CSV downloads, and this short-lived. */
  downloadTokenTtlS: number;
  /** Named (hashed) in the Kazoo envelope's `node`; never the host name. */
  nodeName: string;
  kazooMaxRangeS: number;
  fsDirectionVar: string;
  fsTrunkVar: string;
  pollMs: number;
  /** statement_timeout of API queries; exports and other jobs run without one. */
  queryTimeoutMs: number;
  /** How long to wait for a database connection before answering 503. */
  dbConnectTimeoutMs: number;
  /** The server-side tcp_user_timeout of every connection; TCP keepalive starts from a third of it. */
  dbTcpTimeoutMs: number;
  /** How long an export's transient failures (full disk, I/O errors, lost connections) are retried. */
  exportRetryS: number;
  /** The longest wait between two tries of a failing export (back-off doubles up to it). */
  exportBackoffMaxS: number;
  /** An export whose database sends no byte for this long (a silent server or network) is cut off. */
  copyStallMs: number;
  /** How many time slices (connections, COPYs) one export is cut into, at most. */
  exportSlices: number;
  logLevel: string;
  /** A listener of its own for GET /metrics (serve and worker); undefined: none (serve still
   * answers /metrics on PORT). */
  metricsPort: number | undefined;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
}

export class ConfigError extends Error {}

/** A slice for each core keeps PostgreSQL and gzip busy on all of them (bench/, issue 16). */
export function defaultExportSlices(): number {
  return Math.min(8, os.availableParallelism());
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name} must be a whole number of at least ${min}; it is "${raw}".`);
  }
  return value;
}

/** A whole number of at least `min`, or null when the variable is unset or empty. */
function optionalInt(env: NodeJS.ProcessEnv, name: string, min: number): number | null {
  return env[name] ? int(env, name, min, min) : null;
}

/** A TCP port, or undefined when the variable is unset or empty. */
function optionalPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  if (!env[name]) return undefined;
  const value = int(env, name, 0, 1);
  if (value > 65535)
    throw new ConfigError(`${name} must be a port number, 1 to 65535; it is "${env[name]}".`);
  return value;
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function instant(env: NodeJS.ProcessEnv, name: string, fallback: string): Date {
  const raw = env[name] || fallback;
  const value = new Date(raw);
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw) ||
    Number.isNaN(value.getTime())
  ) {
    throw new ConfigError(
      `${name} must be an ISO 8601 time with its offset, e.g. "${fallback}"; it is "${raw}".`,
    );
  }
  return value;
}

/** CDREX_TRUST_PROXY: off by default; `true`, a hop count, or proxies' addresses and CIDRs
 * (proxy-addr's names `loopback`, `linklocal` and `uniquelocal` too), comma-separated. */
function trustProxy(raw: string | undefined): boolean | number | string[] {
  const value = (raw ?? '').trim();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = list(value);
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split('/');
    const ok =
      ['loopback', 'linklocal', 'uniquelocal'].includes(entry) ||
      (isIP(addr) !== 0 &&
        extra === undefined &&
        (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(addr) === 4 ? 32 : 128))));
    if (!ok) {
      throw new ConfigError(
        `CDREX_TRUST_PROXY must be true, false, a hop count, or comma-separated addresses and CIDRs; "${entry}" is none of them.`,
      );
    }
  }
  return entries;
}

const DEFAULT_CALLBACK_DELAYS = '60,600,1800,3600,10800,21600,43200,86400,172800';

/** pino's levels; pino throws an unreadable error on any other, after startup has begun. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevel(raw: string | undefined): string {
  const level = raw || 'info';
  if (!LOG_LEVELS.includes(level))
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; it is "${level}".`);
  return level;
}

// Kept whole on purpose: one line per environment variable, the single place they are read.
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = int(env, 'PORT', 8080);
  const host = env.HOST || '127.0.0.1';
  const dataDir = path.resolve(env.CDREX_DATA_DIR || './data');
  const delays = list(env.CDREX_CALLBACK_DELAYS ?? DEFAULT_CALLBACK_DELAYS).map(Number);
  if (delays.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new ConfigError('CDREX_CALLBACK_DELAYS must be a comma-separated list of seconds, e.g. "60,600".');
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://.');
  }
  return {
    port,
    host,
    databaseUrl,
    appDatabaseUrl: env.CDREX_APP_DATABASE_URL || undefined,
    workerDatabaseUrl: env.CDREX_WORKER_DATABASE_URL || undefined,
    citus: env.CDREX_CITUS === '1',
    citusShards: int(env, 'CDREX_CITUS_SHARDS', 32, 1),
    dataDir,
    exportDir: path.resolve(env.CDREX_EXPORT_DIR || path.join(dataDir, 'exports')),
    publicUrl: (env.CDREX_PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(
      /\/+$/,
      '',
    ),
    masterKey: env.CDREX_MASTER_KEY || undefined,
    leaseMs: int(env, 'CDREX_LEASE_MS', 30000, 300),
    workerConcurrency: int(env, 'CDREX_WORKER_CONCURRENCY', 2, 1),
    exportsPerAccount: int(env, 'CDREX_EXPORTS_PER_ACCOUNT', 3, 1),
    callbackConcurrency: int(env, 'CDREX_CALLBACK_CONCURRENCY', 4, 1),
    pendingExportsPerAccount: int(env, 'CDREX_PENDING_EXPORTS_PER_ACCOUNT', 20, 1),
    streamsPerAccount: int(env, 'CDREX_STREAMS_PER_ACCOUNT', 2, 1),
    streamIdleMs: int(env, 'CDREX_STREAM_IDLE_MS', 30000, 10),
    requestsPerAccount: int(env, 'CDREX_REQUESTS_PER_ACCOUNT', 4, 1),
    uploadsPerAccount: int(env, 'CDREX_UPLOADS_PER_ACCOUNT', 2, 1),
    callbackDelaysS: delays,
    callbackTimeoutMs: int(env, 'CDREX_CALLBACK_TIMEOUT_MS', 60000, 1),
    callbackAllowHosts: list(env.CDREX_CALLBACK_ALLOW_HOSTS).map((h) => h.toLowerCase()),
    retentionDays: int(env, 'CDREX_RETENTION_DAYS', 30),
    // At least 3: DIDWW's API serves the last three months.
    cdrRetentionMonths: optionalInt(env, 'CDREX_CDR_RETENTION_MONTHS', 3),
    cdrRetentionIntervalS: int(env, 'CDREX_CDR_RETENTION_INTERVAL_S', 86400, 60),
    cdrRetentionLockTimeoutMs: int(env, 'CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS', 2000, 10),
    cdrRetentionLockAttempts: int(env, 'CDREX_CDR_RETENTION_LOCK_ATTEMPTS', 30, 1),
    rateLimit: int(env, 'CDREX_RATE_LIMIT', 10, 1),
    ingestRateLimit: int(env, 'CDREX_INGEST_RATE_LIMIT', 2000, 1),
    authFailLimit: int(env, 'CDREX_AUTH_FAIL_LIMIT', 20, 1),
    bodyLimitKb: int(env, 'CDREX_BODY_LIMIT_KB', 1024, 1),
    uploadLimitMb: int(env, 'CDREX_UPLOAD_LIMIT_MB', 200, 1),
    trustProxy: trustProxy(env.CDREX_TRUST_PROXY),
    ingestFrom: instant(env, 'CDREX_INGEST_FROM', '2000-01-01T00:00:00Z'),
    ingestAheadS: int(env, 'CDREX_INGEST_AHEAD_S', 86400),
    newMonthsPerLoad: int(env, 'CDREX_NEW_MONTHS_PER_LOAD', 2),
    tokenTtlS: int(env, 'CDREX_TOKEN_TTL_S', 3600, 1),
    downloadTokenTtlS: int(env, 'CDREX_DOWNLOAD_TOKEN_TTL_S', 60, 1),
    nodeName: env.CDREX_NODE_NAME || 'cdrex@localhost',
    kazooMaxRangeS: int(env, 'CDREX_KAZOO_MAX_RANGE_S', 2682000, 1),
    fsDirectionVar: env.CDREX_FS_DIRECTION_VAR || 'cdrex_direction',
    fsTrunkVar: env.CDREX_FS_TRUNK_VAR || 'cdrex_trunk_id',
    pollMs: int(env, 'CDREX_POLL_MS', 1000, 10),
    queryTimeoutMs: int(env, 'CDREX_QUERY_TIMEOUT_MS', 30000, 1),
    dbConnectTimeoutMs: int(env, 'CDREX_DB_CONNECT_TIMEOUT_MS', 5000, 100),
    dbTcpTimeoutMs: int(env, 'CDREX_DB_TCP_TIMEOUT_MS', 30000),
    exportRetryS: int(env, 'CDREX_EXPORT_RETRY_S', 86400),
    exportBackoffMaxS: int(env, 'CDREX_EXPORT_BACKOFF_MAX_S', 600, 1),
    copyStallMs: int(env, 'CDREX_COPY_STALL_MS', 60000, 100),
    exportSlices: int(env, 'CDREX_EXPORT_SLICES', defaultExportSlices(), 1),
    logLevel: logLevel(env.LOG_LEVEL),
    metricsPort: optionalPort(env, 'CDREX_METRICS_PORT'),
    metricsToken: env.CDREX_METRICS_TOKEN || undefined,
  };
}
