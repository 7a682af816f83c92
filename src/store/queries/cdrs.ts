// Statements over the `cdrs` table shared by the importers.
import type pg from 'pg';

export type CdrKind = 'cdr_in' | 'cdr_out';
export const CDR_KINDS: CdrKind[] = ['cdr_in', 'cdr_out'];

export async function countCdrs(pool: pg.Pool, accountId: string, kind?: CdrKind): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    'select count(*) as n from cdrs where account_id = $1::text and ($2::text is null or kind = $2::text)',
    [accountId, kind ?? null],
  );
  return Number(rows[0].n);
}
