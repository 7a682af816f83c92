// One tenant must not hold what every tenant shares (docs/security.md, "Fair sharing"). Each
// account has a few slots, counted in this process's memory, for its in-flight API requests, its
// uploads and its long streams (Kazoo CSV and `paginate=false`, which hold a database connection
// for as long as their client reads); beyond them 429 with Retry-After. Long streams also have a
// write-idle timeout that ends a stream whose client stopped reading.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { countDelivery } from '../metrics/registry.js';

/** How long a client turned away with 429 should wait before asking again. */
export const STREAM_RETRY_AFTER_S = 5;
/** The same for the request and upload slots. */
export const SLOT_RETRY_AFTER_S = 1;

/** A number of slots per account; each is held by one response until it closes. */
export class AccountSlots {
  private readonly held = new Map<string, number>();

  constructor(readonly perAccount: number) {}

  /**
   * Takes one of the account's slots for this response, or answers false when they are all
   * taken. The slot is given back when the response closes, however it ends: all sent, an error,
   * or the client gone; `onRelease` runs then.
   */
  take(res: ServerResponse, accountId: string, onRelease?: () => void): boolean {
    const held = this.held.get(accountId) ?? 0;
    if (held >= this.perAccount) return false;
    this.held.set(accountId, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      onRelease?.();
      const left = (this.held.get(accountId) ?? 1) - 1;
      if (left > 0) this.held.set(accountId, left);
      else this.held.delete(accountId);
    };
    res.once('close', release);
    if (res.destroyed) release(); // the client left before the response began
    return true;
  }

  /** Slots the account holds in this process. */
  heldBy(accountId: string): number {
    return this.held.get(accountId) ?? 0;
  }
}

export class LongStreams {
  private readonly slots: AccountSlots;

  constructor(
    perAccount: number,
    private readonly idleMs: number,
  ) {
    this.slots = new AccountSlots(perAccount);
  }

  /**
   * Takes one of the account's stream slots for this response (false when they are all taken)
   * and watches it for a client that stopped reading. The slot is given back when the response
   * closes, however it ends: all sent, an error, the client gone, or the write-idle timeout.
   */
  begin(req: FastifyRequest, reply: FastifyReply, accountId: string): boolean {
    let stopWatching = () => {};
    if (!this.slots.take(reply.raw, accountId, () => stopWatching())) return false;
    countDelivery(reply.raw, 'kazoo_stream');
    if (reply.raw.destroyed) return true; // already given back
    stopWatching = watchWriteIdle(reply.raw, this.idleMs, () =>
      req.log.warn({ idleMs: this.idleMs }, 'long stream ended: its client stopped reading'),
    );
    return true;
  }

  /** Streams the account has open in this process. */
  openFor(accountId: string): number {
    return this.slots.heldBy(accountId);
  }
}

/**
 * Destroys the response (and so its socket, and through Fastify its source stream and database
 * client) once it has waited idleMs for its client: data is queued for the socket (the response
 * needs a drain) and no drain came. A slow reader that takes data now and then is never cut;
 * a slow query that has not produced its first row yet is not waiting for the client, so it is
 * not cut either. Returns the function that stops watching.
 */
export function watchWriteIdle(res: ServerResponse, idleMs: number, onIdle: () => void): () => void {
  let blockedSince: number | undefined;
  const onDrain = () => (blockedSince = undefined);
  res.on('drain', onDrain);
  const timer = setInterval(
    () => {
      if (!res.writableNeedDrain) {
        blockedSince = undefined;
        return;
      }
      const now = Date.now();
      blockedSince ??= now;
      if (now - blockedSince < idleMs) return;
      stop();
      onIdle();
      res.destroy();
    },
    Math.max(5, Math.floor(idleMs / 4)),
  );
  timer.unref();
  function stop() {
    clearInterval(timer);
    res.off('drain', onDrain);
  }
  return stop;
}

export interface AccountLimits {
  streams: LongStreams;
  /** In-flight API requests (DIDWW and Kazoo; not FreeSWITCH posts), from authentication on. */
  requests: AccountSlots;
  /** Kazoo uploads, taken before the body is read and a connection is. */
  uploads: AccountSlots;
}

interface LimitsConfig {
  streamsPerAccount: number;
  streamIdleMs: number;
  requestsPerAccount: number;
  uploadsPerAccount: number;
}

const registry = new WeakMap<object, AccountLimits>();

/** The one set of per-account slots of an app (both Kazoo prefixes and DIDWW share it), keyed on its store. */
export function accountLimits(store: object, config: LimitsConfig): AccountLimits {
  let limits = registry.get(store);
  if (!limits) {
    limits = {
      streams: new LongStreams(config.streamsPerAccount, config.streamIdleMs),
      requests: new AccountSlots(config.requestsPerAccount),
      uploads: new AccountSlots(config.uploadsPerAccount),
    };
    registry.set(store, limits);
  }
  return limits;
}

/** The app's LongStreams. */
export function longStreams(store: object, config: LimitsConfig): LongStreams {
  return accountLimits(store, config).streams;
}
