// Loads CDR records (objects already mapped to `cdrs` columns) of one account: streamed as CSV
// into COPY of a staging table, then moved into `cdrs` in one statement. Invalid records are
// reported by index and reason; unless `partial`, one invalid record means nothing is stored.
import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { stringify } from 'csv-stringify/sync';
import { ensureMonthPartitions } from '../store/partitions.js';
import type { CdrKind } from '../store/queries/cdrs.js';

/** A CDR as stored; `extra` is the record exactly as the source sent it. */
export interface CdrRecord {
  kind: CdrKind;
  time_start: Date;
  time_connect: Date | null;
  time_end: Date | null;
  call_id: string;
  attempt: number;
  status: string;
  source_number: string | null;
  source_name: string | null;
  destination: string | null;
  callee_name: string | null;
  did_number: string | null;
  duration_s: number;
  billing_s: number;
  disconnect_code: string | null;
  hangup_cause: string | null;
  other_leg_call_id: string | null;
  owner_id: string | null;
  authorizing_id: string | null;
  from_uri: string | null;
  to_uri: string | null;
  network_ip: string | null;
  media_ip: string | null;
  interaction_id: string | null;
  voice_out_trunk_id: string | null;
  trunk_name: string | null;
  call_type: string | null;
  cost: string | null;
  rate: string | null;
  extra: unknown;
}

const COLUMNS: (keyof CdrRecord)[] = [
  'kind',
  'time_start',
  'time_connect',
  'time_end',
  'call_id',
  'attempt',
  'status',
  'source_number',
  'source_name',
  'destination',
  'callee_name',
  'did_number',
  'duration_s',
  'billing_s',
  'disconnect_code',
  'hangup_cause',
  'other_leg_call_id',
  'owner_id',
  'authorizing_id',
  'from_uri',
  'to_uri',
  'network_ip',
  'media_ip',
  'interaction_id',
  'voice_out_trunk_id',
  'trunk_name',
  'call_type',
  'cost',
  'rate',
  'extra',
];

export interface Rejected {
  index: number;
  reason: string;
}

export interface LoadResult {
  inserted: number;
  duplicates: number;
  rejected: Rejected[];
  /** False when invalid records stopped the load (nothing stored). */
  stored: boolean;
}

export interface LoadOptions {
  accountId: string;
  source: string;
  imported: boolean;
  partial: boolean;
  /** Rejections listed in the answer at most (default 1000); any rejection still stops a load. */
  maxRejections?: number;
}

function csvLine(record: CdrRecord): string {
  const cells = COLUMNS.map((c) => {
    const v = record[c];
    if (v === null || v === undefined) return null;
    if (v instanceof Date) return v.toISOString();
    if (c === 'extra') return JSON.stringify(v);
    return v;
  });
  // Strings quoted, so an empty string stays empty and only null is NULL.
  return stringify([cells], { quoted_string: true });
}

const STAGE = 'record_stage';

/** Records are mapped one by one as they stream in: `map` returns a record or a reason. */
export async function loadRecords(
  pool: pg.Pool,
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const client = await pool.connect();
  const rejected: Rejected[] = [];
  let broken = false;
  try {
    await client.query(`drop table if exists ${STAGE}`);
    await client.query(`create temp table ${STAGE} (like cdrs including defaults)`);
    await client.query(`alter table ${STAGE} alter account_id drop not null`);
    const copy = client.query(copyFrom(`copy ${STAGE} (${COLUMNS.join(', ')}) from stdin (format csv)`));
    const copyDone = new Promise<void>((resolve, reject) => {
      copy.on('finish', resolve);
      copy.on('error', reject);
    });
    let index = 0;
    let staged = 0;
    let rejectedCount = 0;
    try {
      for await (const raw of input) {
        const mapped = raw instanceof Error ? raw.message : map(raw);
        if (typeof mapped === 'string') {
          rejectedCount++;
          if (rejected.length < (options.maxRejections ?? 1000)) rejected.push({ index, reason: mapped });
        } else if (rejectedCount === 0 || options.partial) {
          if (!copy.write(csvLine(mapped))) await once(copy, 'drain');
          staged++;
        }
        index++;
      }
      copy.end();
      await copyDone;
    } catch (err) {
      copy.destroy(err as Error);
      await copyDone.catch(() => {});
      throw err;
    }
    if (rejected.length > 0 && !options.partial)
      return { inserted: 0, duplicates: 0, rejected, stored: false };
    if (staged === 0) return { inserted: 0, duplicates: 0, rejected, stored: true };
    const months = await client.query<{ m: Date }>(
      `select distinct date_trunc('month', time_start, 'UTC') as m from ${STAGE}`,
    );
    await ensureMonthPartitions(
      pool,
      months.rows.map((r) => r.m),
    );
    const targets = [...COLUMNS, 'account_id', 'source', 'imported'];
    const result = await client.query(
      `insert into cdrs (${targets.join(', ')})
       select ${COLUMNS.join(', ')}, $1::text, $2::text, $3::boolean from ${STAGE}
       on conflict do nothing`,
      [options.accountId, options.source, options.imported],
    );
    const inserted = result.rowCount ?? 0;
    return { inserted, duplicates: staged - inserted, rejected, stored: true };
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    await client.query(`drop table if exists ${STAGE}`).catch(() => (broken = true));
    client.release(broken);
  }
}
