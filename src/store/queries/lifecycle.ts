// The data lifecycle's SQL (src/lifecycle/): retention settings, counting and deleting old rows,
// expiring export files, erasing a number, masking settings. Everything runs on the worker's
// pool (BYPASSRLS): these are operator actions across an account's rows, never a request's read.
// Month partitions are dropped in src/store/partitions.ts.
import type pg from 'pg';

type Db = pg.Pool | pg.PoolClient;

export interface AccountRetention {
  id: string;
  retention_months: number | null;
}

export async function accountRetentions(db: Db): Promise<AccountRetention[]> {
  const { rows } = await db.query<AccountRetention>('select id, retention_months from accounts order by id');
  return rows;
}

/** Rows with time_start in [from, to), of one account or of all (null). */
export async function countRows(
  db: Db,
  account: string | null,
  from: Date | null,
  to: Date,
): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n from cdrs
      where ($1::text is null or account_id = $1::text)
        and ($2::timestamptz is null or time_start >= $2::timestamptz) and time_start < $3::timestamptz`,
    [account, from, to],
  );
  return Number(rows[0].n);
}

/**
 * Deletes rows before `before` (of one account, or of all), `batch` at a time, each batch its own
 * short transaction: row locks are held briefly and the table's other writers never wait long.
 */
export async function deleteRowsBefore(
  db: pg.Pool,
  account: string | null,
  before: Date,
  batch = 5000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `delete from cdrs c using (
         select account_id, kind, time_start, call_id, attempt from cdrs
          where ($1::text is null or account_id = $1::text) and time_start < $2::timestamptz
          limit $3::int) d
        where c.account_id = d.account_id and c.kind = d.kind and c.time_start = d.time_start
          and c.call_id = d.call_id and c.attempt = d.attempt`,
      [account, before, batch],
    );
    total += rowCount ?? 0;
    if (!rowCount) return total;
  }
}

export interface ExpiredFile {
  id: string;
  file_name: string;
  account_id: string;
}

/**
 * Marks expired (download 404, `url: null`) the live files of exports whose range starts before
 * `before`: they hold rows retention removed. The caller deletes the files themselves afterwards;
 * a crash in between leaves an unreferenced file, which the export sweep removes.
 */
export async function expireExportFilesBefore(
  db: Db,
  account: string | null,
  before: Date,
): Promise<ExpiredFile[]> {
  const { rows } = await db.query<ExpiredFile>(
    `update export_files f set deleted_at = now() from exports e
      where e.id = f.export_id and f.deleted_at is null
        and ($1::text is null or f.account_id = $1::text) and e.range_from < $2::timestamptz
      returning f.id, f.file_name, f.account_id`,
    [account, before],
  );
  return rows;
}

// The text columns a number or a caller's name can sit in (docs/fields.md), and the jsonb. The
// pattern and the pseudonym are bound ($2, $3).
const ERASE_SET = `source_number = regexp_replace(source_number, $2::text, $3::text, 'g'),
  source_name = regexp_replace(source_name, $2::text, $3::text, 'g'),
  cli = regexp_replace(cli, $2::text, $3::text, 'g'),
  did_number = regexp_replace(did_number, $2::text, $3::text, 'g'),
  destination = regexp_replace(destination, $2::text, $3::text, 'g'),
  p_charge_info = regexp_replace(p_charge_info, $2::text, $3::text, 'g'),
  callee_name = regexp_replace(callee_name, $2::text, $3::text, 'g'),
  from_uri = regexp_replace(from_uri, $2::text, $3::text, 'g'),
  to_uri = regexp_replace(to_uri, $2::text, $3::text, 'g'),
  extra = cdrex_jsonb_replace(extra, $2::text, $3::text)`;

// The rows that hold the number in one of those columns. Not `c::text ~ $2`: a whole-row cast is
// a STABLE function, which Citus refuses in an UPDATE of a distributed table (and columns the
// update does not change cannot make a row count as erased).
const ERASE_MATCH = `(source_number ~ $2::text or source_name ~ $2::text or cli ~ $2::text
  or did_number ~ $2::text or destination ~ $2::text or p_charge_info ~ $2::text
  or callee_name ~ $2::text or from_uri ~ $2::text or to_uri ~ $2::text or extra::text ~ $2::text)`;

export interface ErasureResult {
  cdrs: number;
  exports: number;
  files: ExpiredFile[];
}

/**
 * Replaces every match of `pattern` (a number's digits, with or without a leading +) by
 * `pseudonym` in one account's CDRs (typed columns and jsonb) and export filters, and marks
 * expired the live files of exports whose kind and range cover a changed CDR: they hold the
 * number. One statement, so the rows and the files change together.
 */
export async function eraseNumber(
  db: Db,
  account: string,
  pattern: string,
  pseudonym: string,
): Promise<ErasureResult> {
  const { rows } = await db.query<{ cdrs: string; exports: string; files: ExpiredFile[] | null }>(
    `with erased as (
       update cdrs c set ${ERASE_SET}
        where c.account_id = $1::text and ${ERASE_MATCH}
        returning c.kind, c.time_start),
     filters as (
       update exports set filters = cdrex_jsonb_replace(filters, $2::text, $3::text),
                          did_number = regexp_replace(did_number, $2::text, $3::text, 'g')
        where account_id = $1::text and (filters::text ~ $2::text or did_number ~ $2::text)
        returning id),
     files as (
       update export_files f set deleted_at = now() from exports e
        where e.id = f.export_id and f.account_id = $1::text and f.deleted_at is null
          and exists (select 1 from erased x where x.kind = e.export_type
                        and x.time_start >= e.range_from and x.time_start <= e.range_to)
        returning f.id, f.file_name, f.account_id)
     select (select count(*) from erased) as cdrs, (select count(*) from filters) as exports,
            (select json_agg(files) from files) as files`,
    [account, pattern, pseudonym],
  );
  return { cdrs: Number(rows[0].cdrs), exports: Number(rows[0].exports), files: rows[0].files ?? [] };
}

/**
 * The account's masking (`cdrex accounts mask`) as SQL for the Kazoo view (src/formats/kazoo.ts):
 * how many trailing digits of a caller's number print as X, NULL when off. The query reads it from
 * the account row the request may see, so list, CSV, detail and legs agree and no value enters SQL
 * text. Uncorrelated, so it runs once per statement, not per row.
 */
export const MASK_DIGITS =
  "(select a.mask_digits from accounts a where a.id = current_setting('cdrex.account', true))";

/** The same for DIDWW export files: only when the account also asked for masked exports. */
export const MASK_EXPORT_DIGITS =
  "(select case when a.mask_exports then a.mask_digits end from accounts a where a.id = current_setting('cdrex.account', true))";

/**
 * `value` masked by `fn` (cdrex_mask_number or cdrex_mask_jsonb) with the trailing `digits` of
 * the caller's number, for an account that masks; else `value` itself, without calling `fn`.
 * The test is not left to `fn`: a SQL function whose argument holds a subquery is never inlined,
 * and calling it for every row of an unmasked month doubled an export's PostgreSQL time (1M
 * rows: 4.9 s against 2.2 s). `digits` is an uncorrelated subquery, run once per statement.
 */
export function maskedIf(
  digits: typeof MASK_DIGITS | typeof MASK_EXPORT_DIGITS,
  value: string,
  fn: 'cdrex_mask_number' | 'cdrex_mask_jsonb' = 'cdrex_mask_number',
): string {
  return `case when ${digits} > 0 then ${fn}(${value}, source_number, ${digits}) else ${value} end`;
}

// Masking is set by updateAccount (src/store/queries/admin.ts), audited, from the CLI and /admin/v1.

export async function accountExists(db: Db, account: string): Promise<boolean> {
  const { rows } = await db.query('select 1 from accounts where id = $1::text', [account]);
  return rows.length > 0;
}
