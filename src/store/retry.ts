// Running a statement again when it lost a race on PostgreSQL's shared catalog. Roles are
// cluster-wide: two cdrex processes on different databases (or, on Citus, the same grant sent to
// every node) may write the same role's row at once, and PostgreSQL fails the later writer
// instead of making it wait. No lock of cdrex's spans databases, so the loser tries again.
import { isUniqueViolation } from './queries/cdrs.js';

/**
 * A write that lost a race on a catalog row: `tuple concurrently updated` (raised without a
 * SQLSTATE of its own, so XX000 and its text), or the duplicate a second `create role` of the
 * same name meets (a unique violation, which Citus relays from a worker node as XX000, or 42710
 * duplicate_object).
 */
export function isCatalogRace(err: unknown): boolean {
  if (isUniqueViolation(err)) return true;
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  if (code === '42710') return true;
  return code === 'XX000' && /tuple concurrently updated/.test(message ?? '');
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** The pause before attempt `n + 1`; a growing one with jitter, so racers spread apart. */
  pauseMs?: (attempt: number) => number;
}

/**
 * Runs `fn`, and again while it fails with an error `retryable` accepts, up to `attempts` in all;
 * the last error is thrown. `fn` must be safe to repeat: a whole transaction that rolled back, or
 * statements that check before they write.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  retryable: (err: unknown) => boolean,
  { attempts = 5, pauseMs = (n) => 100 * n + Math.random() * 200 }: RetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!retryable(err) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, pauseMs(attempt)));
    }
  }
}
