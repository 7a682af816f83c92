// Statements over the `cdrs` table shared by the importers.
import type pg from 'pg';
import { inTransaction } from '../transaction.js';

export type CdrKind = 'cdr_in' | 'cdr_out';
export const CDR_KINDS: CdrKind[] = ['cdr_in', 'cdr_out'];

export const UNIQUE_VIOLATION = '23505';

/**
 * A duplicate key. Citus reports one met by a COPY on a worker node as an internal error (XX000)
 * with PostgreSQL's message, not as 23505, so the message is what tells.
 */
export function isUniqueViolation(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  return (
    code === UNIQUE_VIOLATION ||
    (code === 'XX000' && /^duplicate key value violates unique constraint/.test(message ?? ''))
  );
}

/**
 * Moves staged rows into `cdrs`, first write wins. ON CONFLICT costs a speculative insertion per
 * row, so when the account has nothing stored in the rows' time span (the usual case: new CDRs)
 * a plain INSERT is tried first; a duplicate inside the batch, or a concurrent load of the same
 * rows, makes it fail whole, and the rows are inserted again with ON CONFLICT DO NOTHING.
 * Runs in its own transaction on `client`; returns the number of rows inserted.
 */
export async function insertDeduplicated(
  client: pg.PoolClient,
  span: { accountId: string; kind?: CdrKind; first: Date; last: Date },
  insertSql: (onConflict: string) => string,
  params: unknown[],
): Promise<number> {
  const overlap = await client.query(
    `select 1 from cdrs where account_id = $1::text and ($2::text is null or kind = $2::text)
        and time_start between $3::timestamptz and $4::timestamptz limit 1`,
    [span.accountId, span.kind ?? null, span.first, span.last],
  );
  return inTransaction(client, async () => {
    if (overlap.rowCount === 0) {
      await client.query('savepoint plain_insert');
      try {
        const result = await client.query(insertSql(''), params);
        return result.rowCount ?? 0;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        await client.query('rollback to savepoint plain_insert');
      }
    }
    // Counted through RETURNING: on Citus an INSERT … SELECT from the (coordinator-only) staging
    // table reports the rows it sent on, skipped duplicates included, as its row count.
    const result = await client.query<{ n: number }>(
      `with inserted as (${insertSql('on conflict do nothing returning 1')}) select count(*)::int as n from inserted`,
      params,
    );
    return result.rows[0].n;
  });
}
