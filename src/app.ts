// The cdrex HTTP application: a Fastify instance with the store decorated on it, the rate limit,
// /healthz, and one encapsulated plugin per API dialect. It never listens (see server.ts), so
// tests can drive it with inject() as well as over a socket.
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type pg from 'pg';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { TooManyRequestsError } from './errors.js';
import { didwwDialect } from './api/didww/index.js';
import { freeswitchIngest } from './api/freeswitch.js';
import { kazooDialect } from './api/kazoo/index.js';
import { portal } from './api/portal.js';
import { adminDialect } from './api/admin/index.js';
import { dialectOf } from './api/dialect.js';
import { registerOpenApi, serveOpenApi } from './api/admin/openapi.js';
import { countDefaultPartitionRows } from './store/partitions.js';
import { listMigrations } from './store/migrate.js';
import { readSchemaVersion } from './store/queries/metrics.js';
import { answerMetrics } from './metrics/http.js';
import { observeHttp } from './metrics/registry.js';
import { requestId } from './metrics/request-id.js';
import { Scraper } from './metrics/scrape.js';
import {
  AddressLimiter,
  clientAddress,
  credentialKeyer,
  INGEST_ROUTE,
  QUERY_ROUTE,
  routeOf,
} from './api/request-limits.js';

export interface AppStore {
  /** cdrex_app, with a statement timeout (see server.ts): requests' queries, through `req.db`. */
  pool: pg.Pool;
  /** cdrex_app without one, through `req.streamDb`: long streams a client asked for (CSV and
   * unpaginated lists), since their length is the client's data, not a stuck query. */
  streamPool: pg.Pool;
  /** cdrex_worker: bulk loads (uploads, switch posts), the account stamped by the server. */
  workerPool: pg.Pool;
  config: Config;
  masterKey: Buffer;
  /** The clock; injectable so tests near a month boundary cannot flake. */
  now: () => Date;
  /** cdrex_worker, a small pool of its own for /readyz and /metrics, so that neither queues
   * behind requests (serve.ts makes one); without it they use `workerPool`. */
  probePool?: pg.Pool;
  /** What /metrics reports; without it, this app's three pools and the store. */
  scraper?: Scraper;
}

declare module 'fastify' {
  interface FastifyInstance {
    store: AppStore;
  }
}

/** Query parameters whose value is a credential, by their decoded, lower-cased name. */
const SECRET_PARAMS = new Set(['auth_token', 'api_key', 'api-key', 'x-auth-token', 'token', 'password']);

/** A query parameter's name as a server would read it: `+` is a space, escapes decoded (to a fixed
 * point, so `auth%255Ftoken` counts too), lower-cased. */
function paramName(raw: string): string {
  let name = raw.replace(/\+/g, ' ');
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(name);
    } catch {
      break;
    }
    if (next === name) break;
    name = next;
  }
  return name.trim().toLowerCase();
}

/** Whether a query parameter's value is a Kazoo filter value (`filter_…`, `filter_not_…`): it can
 * be a caller's number, which an account that masks must not find in the log, and the
 * request is logged before its account (and its masking) is known. */
const isFilterValue = (name: string) => name.startsWith('filter_');

/** Strips credentials and filter values from logged URLs (`?auth_token=` appears in Kazoo curl
 * examples), however the name is spelled: `auth%5Ftoken`, `API_KEY`, `auth_token[]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      const name = paramName(pair.slice(0, eq)).replace(/\[\]$/, '');
      return SECRET_PARAMS.has(name) || isFilterValue(name) ? `${pair.slice(0, eq)}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/** The API dialects, each mounted under its own prefixes (src/api/dialect.ts). */
const DIALECTS = [adminDialect, didwwDialect, kazooDialect];

/** The URL's first path segment as the router reads it (`/%763/…` is `v3`), for the dialect of an
 * error about a URL no route could take; escapes that do not decode are left as they are. */
function firstSegment(url: string): string {
  const raw = url.split(/[/?#]/)[1] ?? '';
  return raw.replace(/%([0-9a-f]{2})/gi, (m, hex: string) => {
    const code = parseInt(hex, 16);
    return code < 0x80 ? String.fromCharCode(code) : m;
  });
}

/** Fastify's trustProxy; a hop count as the function Fastify would make of it. */
function trustProxy(
  setting: boolean | number | string[],
): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof setting === 'number' ? (_addr, hop) => hop < setting : setting;
}

/** Routes behind a credential, whose failures the per-address limit counts (and 404s, which no
 * route matched). */
function needsCredential(req: FastifyRequest): boolean {
  const route = routeOf(req);
  return route === undefined || QUERY_ROUTE.test(route) || INGEST_ROUTE.test(route);
}

/** A pool's use for /healthz: connections open, idle and the callers waiting for one. */
function poolUse(pool: pg.Pool) {
  const max = (pool.options as { max?: number }).max ?? 10;
  const use = { max, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
  return { ...use, exhausted: use.total >= max && use.idle === 0 };
}

// The request pipeline, in registration order: Fastify runs hooks and plugins in that order, so
// this body reads top to bottom as a request goes through; each step is a function below.
export async function buildApp(store: AppStore, log: Logger): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify(serverOptions(store, log));
  app.decorate('store', store);
  limitFailedAuth(app, store);
  // Every request by its route template (never the raw URL: ids would make a series each).
  app.addHook('onResponse', async (req, reply) => {
    observeHttp(routeOf(req), req.method, reply.statusCode, reply.elapsedTime);
  });

  await limitQueryRate(app, store);
  addProbes(app, store);

  // Collects every route registered below, for the OpenAPI documents (src/api/admin/openapi.ts).
  await registerOpenApi(app);
  for (const dialect of DIALECTS)
    for (const prefix of dialect.prefixes) await app.register(dialect.plugin, { prefix });
  serveOpenApi(app);
  await app.register(freeswitchIngest);
  await app.register(portal, {});
  return app;
}

/** Fastify's options: logging without credentials, limits, request ids, router errors. */
function serverOptions(store: AppStore, log: Logger): FastifyServerOptions {
  return {
    loggerInstance: log.child(
      {},
      {
        serializers: {
          // Only these three: headers (Api-Key, X-Auth-Token, Authorization) are never logged.
          req: (req: { method: string; url: string; ip?: string }) => ({
            method: req.method,
            url: redactUrl(req.url),
            ip: req.ip,
          }),
        },
      },
    ) as unknown as FastifyBaseLogger,
    // Small by default; api_auth has 4 KiB and the upload routes CDREX_UPLOAD_LIMIT_MB (route options).
    bodyLimit: store.config.bodyLimitKb * 1024,
    // X-Forwarded-For names the client only when it came through a trusted proxy (CDREX_TRUST_PROXY).
    trustProxy: trustProxy(store.config.trustProxy),
    requestTimeout: 120_000,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    ajv: { customOptions: { coerceTypes: true, allErrors: false } },
    // X-Request-Id when acceptable, else a new one (src/metrics/request-id.ts); logged as reqId.
    requestIdHeader: false,
    genReqId: requestId,
    // Ids are at most 300 characters (schemas say so); longer URL parts are refused before routing.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    // A URL the router cannot take (too long, malformed escapes) still answers in its dialect.
    frameworkErrors: (err, req, reply) => {
      const status = (err as { statusCode?: number }).statusCode ?? 400;
      const message = status === 414 ? 'A part of the URL is too long.' : 'The URL is not valid.';
      const dialect = dialectOf(DIALECTS, firstSegment(req.url));
      if (dialect) return dialect.urlError(req, reply as FastifyReply, status, message);
      return (reply as FastifyReply).code(status).send({ error: message });
    },
  };
}

/** 429s for a client address after too many 401s; X-Request-Id, Retry-After on every answer. */
function limitFailedAuth(app: FastifyInstance, store: AppStore): void {
  // Failed authentications per client address (CDREX_TRUST_PROXY decides what the address is).
  // Checked first, before any dialect's auth hook looks a credential up; counted when a 401 goes out.
  const authFailures = new AddressLimiter(store.config.authFailLimit, 60_000);
  app.addHook('onRequest', async (req, reply) => {
    if (!needsCredential(req)) return;
    const wait = authFailures.blockedFor(clientAddress(req.ip));
    if (wait === 0) return;
    reply.header('Retry-After', String(wait));
    const message = `Too many failed authentications from this address; retry in ${wait} s.`;
    throw new TooManyRequestsError(message);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('X-Request-Id', req.id);
    if (reply.statusCode === 401 && needsCredential(req)) authFailures.fail(clientAddress(req.ip));
    // An over-limit body may still be arriving: close rather than read the rest.
    if (reply.statusCode === 413) reply.header('Connection', 'close');
    // Every 429 says when to come back, whichever limit sent it.
    if (reply.statusCode === 429 && !reply.hasHeader('retry-after')) reply.header('Retry-After', '1');
    return payload;
  });
}

/** The query APIs' rate limit (CDREX_RATE_LIMIT per credential per second). */
async function limitQueryRate(app: FastifyInstance, store: AppStore): Promise<void> {
  // The query APIs, per credential (a hash of it; see request-limits.ts), by the matched route.
  // It runs on onRequest after each dialect's auth hook (route hooks follow instance hooks), so
  // before the body is read. /ingest/* routes set their own, separate limit in their config.
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: store.config.rateLimit,
    timeWindow: 1000,
    keyGenerator: credentialKeyer(),
    // The portal's static files and /healthz are public and cached; only the APIs are metered.
    allowList: (req) => {
      const route = routeOf(req) ?? '';
      return !QUERY_ROUTE.test(route) && !INGEST_ROUTE.test(route);
    },
    errorResponseBuilder: (_req, ctx) => {
      return new TooManyRequestsError(
        `Rate limit of ${ctx.max} requests per second exceeded; retry in ${ctx.after}.`,
      );
    },
  });
}

/** /healthz, /livez, /readyz and /metrics. */
function addProbes(app: FastifyInstance, store: AppStore): void {
  const probe = store.probePool ?? store.workerPool;
  const scraper =
    store.scraper ??
    new Scraper({
      pools: { app: store.pool, stream: store.streamPool, ingest: store.workerPool },
      probe,
      tasks: [],
    });

  // Liveness with details: the store (503 when it is down) and each pool's use. A pool with every
  // connection out reads `exhausted` and the status `degraded`, still 200: exhaustion is load, and
  // a probe that failed on it would restart or drain busy nodes (decisions.md). When the API pool
  // has no free connection, the store check does not queue behind the requests for one.
  app.get('/healthz', { config: { rateLimit: false } }, async (_req, reply) => {
    const pools = {
      api: poolUse(store.pool),
      stream: poolUse(store.streamPool),
      worker: poolUse(store.workerPool),
    };
    const exhausted = Object.values(pools).some((p) => p.exhausted);
    const status = exhausted ? 'degraded' : 'ok';
    if (pools.api.exhausted) return { status, store: 'busy', pools };
    try {
      const defaultRows = await countDefaultPartitionRows(store.pool);
      return { status, store: 'up', default_partition_rows: defaultRows, pools };
    } catch {
      return reply.code(503).send({ status: 'unavailable', store: 'down' });
    }
  });
  // Liveness: the process answers; nothing else is checked, so a restart is never the cure for
  // a database outage.
  app.get('/livez', { config: { rateLimit: false } }, async () => ({ status: 'live' }));
  // Readiness: the store reachable and its schema the one this cdrex knows; once close() began,
  // Fastify answers every request 503 and the listener takes no new connection (draining). The
  // store is read on the probe pool, never the request pools: exhaustion is load and must not take
  // nodes out of rotation (docs/decisions.md).
  const schemaVersion = Math.max(0, ...listMigrations().map((m) => m.version));
  app.get('/readyz', { config: { rateLimit: false } }, async (_req, reply) => {
    const unready = (reason: string) => reply.code(503).send({ status: 'unready', reason });
    let version: number;
    try {
      version = await readSchemaVersion(probe);
    } catch {
      return unready('store unreachable');
    }
    if (version !== schemaVersion)
      return unready(`store schema version ${version}; this cdrex needs ${schemaVersion}`);
    return { status: 'ready' };
  });
  // Prometheus, protected by CDREX_METRICS_TOKEN when set (src/metrics/http.ts).
  app.get('/metrics', { config: { rateLimit: false } }, async (req, reply) => {
    const answer = await answerMetrics(scraper, store.config.metricsToken, req.headers.authorization);
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  });
}
