// What every measurement of `npm run bench` shares: the harness, a small pool on the store, the
// account the month was loaded into, the month's CSV file, and the run's size.
import type pg from 'pg';
import type { Harness } from '../harness.js';

export interface Account {
  account_id: string;
  api_key: string;
}

export interface Bench {
  harness: Harness;
  pool: pg.Pool;
  main: Account;
  csvFile: string;
  rows: number;
  runs: number;
}

/** Seconds between 0001-01-01 (Gregorian, Kazoo's epoch) and 1970-01-01. */
export const GREGORIAN = 62167219200;

/**
 * Runs both sides of one comparison, cdrex first on even runs and the baseline first on odd
 * ones, each after a CHECKPOINT, so that neither side pays for the other's (or an earlier
 * phase's) dirty buffers.
 */
export async function alternate(
  bench: Bench,
  run: number,
  cdrexSide: () => Promise<void>,
  baselineSide: () => Promise<void>,
) {
  const sides = run % 2 === 0 ? [cdrexSide, baselineSide] : [baselineSide, cdrexSide];
  for (const side of sides) {
    // Needs superuser or pg_checkpoint on a server of one's own; harmless to skip otherwise.
    await bench.harness.sh('psql "$DATABASE_URL" -qAt -c checkpoint || true');
    await side();
  }
}
