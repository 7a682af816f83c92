// Long streams (Kazoo CSV and `paginate=false`) hold a database connection for as long as their
// client reads. Two defences keep one tenant from holding them all (docs/security.md, "Fair
// sharing"): a few slots per account, counted in this process's memory, and a write-idle
// timeout that ends a stream whose client stopped reading.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** How long a client turned away with 429 should wait before asking again. */
export const STREAM_RETRY_AFTER_S = 5;

export class LongStreams {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly perAccount: number,
    private readonly idleMs: number,
  ) {}

  /**
   * Takes one of the account's slots for this response, or answers false when they are all
   * taken. The slot is given back when the response closes, however it ends: all sent, an error,
   * the client gone, or the write-idle timeout.
   */
  begin(req: FastifyRequest, reply: FastifyReply, accountId: string): boolean {
    const held = this.open.get(accountId) ?? 0;
    if (held >= this.perAccount) return false;
    this.open.set(accountId, held + 1);
    const res = reply.raw;
    const stopWatching = watchWriteIdle(res, this.idleMs, () =>
      req.log.warn({ idleMs: this.idleMs }, 'long stream ended: its client stopped reading'),
    );
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      stopWatching();
      const left = (this.open.get(accountId) ?? 1) - 1;
      if (left > 0) this.open.set(accountId, left);
      else this.open.delete(accountId);
    };
    res.once('close', release);
    if (res.destroyed) release(); // the client left before the stream began
    return true;
  }

  /** Streams the account has open in this process. */
  openFor(accountId: string): number {
    return this.open.get(accountId) ?? 0;
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

const registry = new WeakMap<object, LongStreams>();

/** The one LongStreams of an app (both Kazoo prefixes share it), keyed on its store. */
export function longStreams(store: object, config: { streamsPerAccount: number; streamIdleMs: number }) {
  let streams = registry.get(store);
  if (!streams) {
    streams = new LongStreams(config.streamsPerAccount, config.streamIdleMs);
    registry.set(store, streams);
  }
  return streams;
}
