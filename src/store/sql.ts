// The one way SQL is assembled from fragments: every value goes through SqlParams.add(), which
// numbers it and returns its placeholder, so no fragment counts parameters by hand (`$${n - 3}`)
// and no value is ever written into SQL text (`.replace()` on a query). Fragments that need a
// value are functions of its placeholder, called once the placeholder exists.
import type pg from 'pg';

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

export interface BuiltQuery {
  text: string;
  values: unknown[];
}

/**
 * Values of a query, kept out of its text. `add()` returns the placeholder to write: `$N` for a
 * bound statement, or, for COPY (which takes no bind parameters), a read of a transaction-local
 * setting that `settings()` sets with bind parameters first. Either way the value itself never
 * becomes SQL text.
 */
export class SqlParams {
  readonly values: unknown[] = [];
  constructor(readonly style: 'bind' | 'setting' = 'bind') {}

  add(value: unknown): string {
    if (value === null || value === undefined) throw new Error('SqlParams: null values are not supported');
    this.values.push(value);
    const n = this.values.length;
    if (this.style === 'bind') return `$${n}`;
    // Read back through the IMMUTABLE readers of migration 21, which the planner folds into
    // constants (partition pruning, estimates); a Date as a timestamptz, since the text to
    // timestamptz cast is not immutable and would stop the folding.
    return value instanceof Date ? `cdrex_param_timestamptz(${n})` : `cdrex_param(${n})`;
  }

  /**
   * The account the query is about. Bound like any value, except in the 'setting' style: Citus
   * routes a query to the one shard that holds the account only when the distribution column is
   * compared with a constant, and a setting read is not one (the COPY would run on every shard).
   * There the id is written as a literal, after the check that it is 32 hex digits, the same
   * check setAccount() makes (src/store/account-db.ts).
   */
  account(accountId: string): string {
    if (this.style === 'bind') return this.add(accountId);
    if (!ACCOUNT_ID.test(accountId)) throw new Error('SqlParams: not an account id');
    return `'${accountId}'`;
  }

  /** For the 'setting' style: the statement that sets every value (run it in the same
   * transaction), through cdrex_set_params (migration 20) so that Citus's workers see them. */
  settings(): BuiltQuery {
    const args = this.values.map((_, i) => `$${i + 1}::text`);
    return {
      text: `select cdrex_set_params(${args.join(', ') || 'variadic array[]::text[]'})`,
      values: this.values.map(settingText),
    };
  }
}

/**
 * Readies the transaction on `client` for a COPY whose query was built with `params` in the
 * 'setting' style: sets the values, and takes sequential and bitmap scans off the planner's
 * choices, so that it reads the account's rows through an index, in the COPY's order if it can.
 *
 * Such a COPY reads one account's rows of a month (an export, a Kazoo CSV), but a month's
 * partition holds every account's. Seeing the whole month in the range, the planner would scan
 * all of it whenever the account holds more than a few percent of it, filtering out the other
 * accounts' rows: the export's cost then grows with the store, not with the account. With eight
 * accounts exporting their 125,000-row months at once from one 1M-row month (PostgreSQL 15, 2
 * cores) that took 7.0–7.2 s; reading each account's rows through its indexes took 5.2–6.4 s,
 * and one such COPY alone 0.51 s instead of 0.73 s. An account alone in its month loses a little
 * at mid sizes (300,000 rows: 1.3 s through the index against 1.0 s scanned and sorted) and
 * nothing at 1M rows, where the planner itself reads the index in order.
 *
 * Nor bitmap scans: once sequential scans were off, a month where the account holds a quarter of
 * the rows was read through a bitmap of another index and sorted, on disk (PostgreSQL 18, the
 * 10M-row store of `npm run bench -- --scale`: half a 1M-row month in 1.58–1.61 s that way, in
 * 1.05–1.11 s through the ordered index, which needs no sort). That sort was the export's growth
 * with the store (1.28× in three scale runs).
 *
 * Nor does the COPY take parallel workers. With the month's rows in the planner's statistics it
 * picks a Gather Merge of two workers for a large account, but the COPY's rows still leave
 * through the one leader in order, and the workers take the cores that gzip (the export) or Node
 * (the Kazoo CSV) need: one account's 1M-row month exported in 4.0–5.0 s with them and in
 * 2.6–3.0 s without (PostgreSQL 15, 2 cores; `psql \copy | gzip -6` of the same rows 6.8–7.0 s).
 * An export that wants more cores gets them from its time slices, one connection each.
 */
export async function prepareCopy(client: pg.ClientBase, params: SqlParams): Promise<void> {
  await client.query(params.settings());
  await client.query(
    'set local enable_seqscan = off; set local enable_bitmapscan = off; ' +
      'set local max_parallel_workers_per_gather = 0',
  );
}

/** A value as the text its cast reads back (arrays in PostgreSQL's array syntax, by the driver). */
function settingText(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  return value;
}

/** A select list: constant SQL, or SQL around the placeholder of the search's utc_offset. */
export type Projection = string | ((offset: string) => string);

/** The projection's SQL; the offset becomes a parameter only when the projection reads it. */
export function project(projection: Projection, params: SqlParams, utcOffsetS = 0): string {
  return typeof projection === 'string'
    ? projection
    : projection(`${params.add(Math.trunc(utcOffsetS))}::int`);
}
