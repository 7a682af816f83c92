// Limits that run before any work is done for a request (docs/security.md, "Request limits"):
// what a credential's rate-limit bucket is called, and the per-address counter of failed
// authentications. Both are in memory, per process, like the query rate limit.
import { createHash, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { presentedApiKey, presentedToken } from './auth.js';

/** The routes the rate limits meter, by the route that matched (never by the raw URL, which can
 * spell the same route many ways: `/%763/exports` is `/v3/exports`). */
export const QUERY_ROUTE = /^\/(v[123]|admin)\//;
export const INGEST_ROUTE = /^\/ingest\//;

/** The matched route's pattern, e.g. `/v3/exports/:id`; undefined when no route matched. */
export function routeOf(req: FastifyRequest): string | undefined {
  return req.routeOptions.url;
}

/** The query limit's bucket: one per credential (an API key or an api_auth token), so each portal
 * sign-in has its own. The key is a salted hash: the secret itself never sits in the limiter's
 * map. A request that presented none (api_auth itself) is counted per client address. */
export function credentialKeyer(salt: Buffer = randomBytes(16)): (req: FastifyRequest) => string {
  return (req) => {
    // The credential the route's own dialect authenticates with, nothing else: a header another
    // dialect would read (an Api-Key sent to Kazoo) must not open a fresh bucket. A made-up
    // credential opens one, but then fails to authenticate, and failures are limited per address.
    const route = routeOf(req) ?? '';
    const secret = /^\/v3\//.test(route)
      ? presentedApiKey(req)
      : /^\/v[12]\//.test(route)
        ? presentedToken(req)
        : /^\/admin\//.test(route)
          ? presentedBearer(req)
          : undefined;
    if (!secret) return `addr:${clientAddress(req.ip)}`;
    return `cred:${createHash('sha256').update(salt).update(secret).digest('base64url')}`;
  };
}

/** The operators' API's credential (src/api/admin/index.ts): Authorization: Bearer only. */
function presentedBearer(req: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** An IPv4 address, or the /64 of an IPv6 one (a single host usually holds a whole /64). */
export function clientAddress(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!isIPv6(ip)) return ip;
  const [head, tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Counts failed authentications per client address in fixed windows. Once an address reaches
 * `max` in a window, every request from it to an API route is refused until the window ends,
 * before its credential is looked up: a guesser learns nothing more. */
export class AddressLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly max: number,
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the address may try again, or 0 when it may now. */
  blockedFor(address: string): number {
    const entry = this.windows.get(address);
    const now = this.now();
    if (!entry || entry.resetAt <= now) return 0;
    return entry.count >= this.max ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : 0;
  }

  fail(address: string): void {
    const now = this.now();
    const entry = this.windows.get(address);
    if (entry && entry.resetAt > now) {
      entry.count++;
      return;
    }
    if (this.windows.size >= this.maxEntries) this.prune(now);
    this.windows.set(address, { count: 1, resetAt: now + this.windowMs });
  }

  private prune(now: number): void {
    for (const [address, entry] of this.windows) if (entry.resetAt <= now) this.windows.delete(address);
    // Still full: drop the oldest windows (Map keeps insertion order).
    for (const address of this.windows.keys()) {
      if (this.windows.size < this.maxEntries) break;
      this.windows.delete(address);
    }
  }
}
