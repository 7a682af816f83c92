// The voice out trunks an account's outbound CDRs name, for `cdrex trunks list`: under the default
// DIDWW API version a cdr_out export needs filters.voice_out_trunk.id, and this is where an
// operator finds one. Read as cdrex_app through accountDb(), so row-level security shows the
// account's rows only, whatever the SQL says.
import type pg from 'pg';
import { accountDb } from '../account-db.js';

export interface TrunkListing {
  /** What filters.voice_out_trunk.id takes; null for the calls that carry no trunk id. */
  voice_out_trunk_id: string | null;
  /** The trunk names (`Voice OUT Trunk`, FreeSWITCH's profile…) seen with it. */
  names: string[];
  calls: number;
  first_seen: string;
  last_seen: string;
}

/** One entry per trunk id in the account's outbound CDRs, the most recently used first. */
export async function listTrunks(appPool: pg.Pool, accountId: string): Promise<TrunkListing[]> {
  const { rows } = await accountDb(appPool, accountId).query<{
    voice_out_trunk_id: string | null;
    names: string[];
    calls: string;
    first_seen: Date;
    last_seen: Date;
  }>(
    `select voice_out_trunk_id,
            array_remove(array_agg(distinct trunk_name order by trunk_name), null) as names,
            count(*) as calls, min(time_start) as first_seen, max(time_start) as last_seen
       from cdrs
      where kind = 'cdr_out'
      group by voice_out_trunk_id
      order by last_seen desc, voice_out_trunk_id`,
  );
  return rows.map((r) => ({
    voice_out_trunk_id: r.voice_out_trunk_id,
    names: r.names,
    calls: Number(r.calls),
    first_seen: r.first_seen.toISOString(),
    last_seen: r.last_seen.toISOString(),
  }));
}
