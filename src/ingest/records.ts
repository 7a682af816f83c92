// Loads CDR records (objects already mapped to `cdrs` columns) of one account: streamed as CSV
// into COPY of a staging table, then moved into `cdrs` in one statement. Invalid records are
// reported by index and reason; unless `partial`, one invalid record means nothing is stored.
import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ensureMonthPartitions } from '../store/partitions.js';
import { insertDeduplicated, type CdrKind } from '../store/queries/cdrs.js';

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

/** The SQL type of each record column, for jsonb_to_record(set). */
const COLUMN_TYPES: Record<keyof CdrRecord, string> = {
  kind: 'text',
  time_start: 'timestamptz',
  time_connect: 'timestamptz',
  time_end: 'timestamptz',
  call_id: 'text',
  attempt: 'integer',
  status: 'text',
  source_number: 'text',
  source_name: 'text',
  destination: 'text',
  callee_name: 'text',
  did_number: 'text',
  duration_s: 'integer',
  billing_s: 'integer',
  disconnect_code: 'text',
  hangup_cause: 'text',
  other_leg_call_id: 'text',
  owner_id: 'text',
  authorizing_id: 'text',
  from_uri: 'text',
  to_uri: 'text',
  network_ip: 'text',
  media_ip: 'text',
  interaction_id: 'text',
  voice_out_trunk_id: 'text',
  trunk_name: 'text',
  call_type: 'text',
  cost: 'numeric',
  rate: 'numeric',
  extra: 'jsonb',
};
/** The record columns, in one fixed order for every statement below. */
const COLUMNS = Object.keys(COLUMN_TYPES) as (keyof CdrRecord)[];
const RECORD_SHAPE = COLUMNS.map((c) => `${c} ${COLUMN_TYPES[c]}`).join(', ');
const TARGETS = [...COLUMNS, 'account_id', 'source', 'imported'].join(', ');

/** Inserts records given as a JSON array ($1), for the account etc. ($2…$4). */
const INSERT_FROM_JSON = `insert into cdrs (${TARGETS})
  select ${COLUMNS.join(', ')}, $2::text, $3::text, $4::boolean
    from jsonb_to_recordset($1::jsonb) as r(${RECORD_SHAPE})
  on conflict do nothing`;

/** Inserts the staged JSON lines; `onConflict` is empty or `on conflict do nothing`. */
const insertFromStage = (onConflict: string) => `insert into cdrs (${TARGETS})
  select r.*, $1::text, $2::text, $3::boolean
    from record_stage s, jsonb_to_record(s.doc) as r(${RECORD_SHAPE})
  ${onConflict}`;

/** Small batches already in memory (a switch's post, a JSON body): one statement, no staging. */
const DIRECT_LIMIT = 5000;

const STAGE = 'record_stage';

/** Records are mapped one by one as they stream in: `map` returns a record or a reason. */
export async function loadRecords(
  pool: pg.Pool,
  input: AsyncIterable<unknown> | Iterable<unknown>,
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  if (Array.isArray(input) && input.length <= DIRECT_LIMIT) return loadSmallBatch(pool, input, map, options);
  const client = await pool.connect();
  const rejected: Rejected[] = [];
  let rejectedCount = 0;
  let broken = false;
  try {
    await client.query(`drop table if exists ${STAGE}`);
    // One jsonb column, loaded as CSV whose quote and delimiter are control characters that
    // JSON.stringify never leaves raw: each line arrives verbatim, with no escaping to undo.
    await client.query(`create temp table ${STAGE} (doc jsonb not null)`);
    const copy = client.query(
      copyFrom(`copy ${STAGE} (doc) from stdin (format csv, quote e'\\x01', delimiter e'\\x02')`),
    );
    const copyDone = new Promise<void>((resolve, reject) => {
      copy.on('finish', resolve);
      copy.on('error', reject);
    });
    let index = 0;
    let staged = 0;
    try {
      for await (const raw of input) {
        const mapped = raw instanceof Error ? raw.message : map(raw);
        if (typeof mapped === 'string') {
          rejectedCount++;
          if (rejected.length < (options.maxRejections ?? 1000)) rejected.push({ index, reason: mapped });
        } else if (rejectedCount === 0 || options.partial) {
          // After a rejection (without partial) nothing will be stored: stop staging, keep validating.
          if (!copy.write(`${JSON.stringify(mapped)}\n`)) await once(copy, 'drain');
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
    if (rejectedCount > 0 && !options.partial) return { inserted: 0, duplicates: 0, rejected, stored: false };
    if (staged === 0) return { inserted: 0, duplicates: 0, rejected, stored: true };
    const { rows } = await client.query<{ months: Date[]; first: Date; last: Date }>(
      `select array_agg(distinct date_trunc('month', t, 'UTC')) as months, min(t) as first, max(t) as last
         from (select (doc->>'time_start')::timestamptz as t from ${STAGE}) s`,
    );
    await ensureMonthPartitions(pool, rows[0].months);
    const inserted = await insertDeduplicated(
      client,
      { accountId: options.accountId, first: rows[0].first, last: rows[0].last },
      insertFromStage,
      [options.accountId, options.source, options.imported],
    );
    return { inserted, duplicates: staged - inserted, rejected, stored: true };
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    await client.query(`drop table if exists ${STAGE}`).catch(() => (broken = true));
    client.release(broken);
  }
}

async function loadSmallBatch(
  pool: pg.Pool,
  input: unknown[],
  map: (raw: unknown) => CdrRecord | string,
  options: LoadOptions,
): Promise<LoadResult> {
  const rejected: Rejected[] = [];
  const records: CdrRecord[] = [];
  input.forEach((raw, index) => {
    const mapped = map(raw);
    if (typeof mapped === 'string') rejected.push({ index, reason: mapped });
    else records.push(mapped);
  });
  const shown = rejected.slice(0, options.maxRejections ?? 1000);
  if (rejected.length > 0 && !options.partial)
    return { inserted: 0, duplicates: 0, rejected: shown, stored: false };
  if (records.length === 0) return { inserted: 0, duplicates: 0, rejected: shown, stored: true };
  await ensureMonthPartitions(
    pool,
    records.map((r) => r.time_start),
  );
  const result = await pool.query(INSERT_FROM_JSON, [
    JSON.stringify(records),
    options.accountId,
    options.source,
    options.imported,
  ]);
  const inserted = result.rowCount ?? 0;
  return { inserted, duplicates: records.length - inserted, rejected: shown, stored: true };
}
