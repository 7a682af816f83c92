// The accounts an operator has, for `cdrex accounts list`. Run as cdrex_worker: listing every
// account is an operator's act, never a request's.
import type pg from 'pg';

export interface AccountListing {
  account_id: string;
  name: string;
  created: string;
  /** API keys the account has (two while a customer rotates through the admin API; rotate-key
   * replaces all with one), so 0 means it cannot sign in. */
  keys: number;
  /** When its current key was made (by create or the last rotate-key). */
  key_created: string | null;
}

export async function listAccounts(pool: pg.Pool): Promise<AccountListing[]> {
  const { rows } = await pool.query<{
    account_id: string;
    name: string;
    created_at: Date;
    keys: number;
    key_created: Date | null;
  }>(
    `select a.id as account_id, a.name, a.created_at, count(k.account_id)::int as keys,
            max(k.created_at) as key_created
       from accounts a left join api_keys k on k.account_id = a.id
      group by a.id
      order by a.created_at, a.id`,
  );
  return rows.map((r) => ({
    account_id: r.account_id,
    name: r.name,
    created: r.created_at.toISOString(),
    keys: r.keys,
    key_created: r.key_created?.toISOString() ?? null,
  }));
}
