// The statements a CDR load runs: the direct COPY into `cdrs` in its own transaction, the
// staging table and deduplicating INSERT behind it, and the one-statement insert of a small batch
// given as JSON. What decides between them is src/ingest/records.ts.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ensureMonthPartitions } from '../partitions.js';
import { insertDeduplicated, type CdrKind } from './cdrs.js';

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
export const RECORD_COLUMNS = Object.keys(COLUMN_TYPES) as (keyof CdrRecord)[];
const RECORD_SHAPE = RECORD_COLUMNS.map((c) => `${c} ${COLUMN_TYPES[c]}`).join(', ');
const TARGETS = [...RECORD_COLUMNS, 'account_id', 'source', 'imported'].join(', ');

/** Inserts records given as a JSON array ($1), for the account etc. ($2…$4); answers how many.
 * Counted through RETURNING: on Citus, an INSERT … SELECT planned on the coordinator reports the
 * rows it sent on, skipped duplicates included, as its row count. */
const INSERT_FROM_JSON = `with inserted as (insert into cdrs (${TARGETS})
  select ${RECORD_COLUMNS.join(', ')}, $2::text, $3::text, $4::boolean
    from jsonb_to_recordset($1::jsonb) as r(${RECORD_SHAPE})
  on conflict do nothing returning 1) select count(*)::int as n from inserted`;

const STAGE = 'record_stage';

/**
 * A bulk load's write buffer. A deep one lets Node read ahead while PostgreSQL is busy with the
 * indexes (uploads and the direct CSV import measured faster with it than with 64 KiB).
 */
export const COPY_BUFFER_BYTES = 8 << 20;

/** Opens a load's transaction and starts `copy` (a COPY … FROM STDIN into `cdrs`); commitLoad or
 * rollbackLoad ends it. */
export async function beginLoadCopy(client: pg.ClientBase, copy: string) {
  await client.query('begin');
  return client.query(copyFrom(copy, { highWaterMark: COPY_BUFFER_BYTES }));
}

/** The load of records (src/ingest/records.ts): the record columns, then the account, source
 * and imported flag, in COPY's text format. */
export function beginCdrCopy(client: pg.ClientBase) {
  return beginLoadCopy(client, `copy cdrs (${TARGETS}) from stdin`);
}

export async function commitLoad(client: pg.ClientBase): Promise<void> {
  await client.query('commit');
}

export async function rollbackLoad(client: pg.ClientBase): Promise<void> {
  await client.query('rollback');
}

/** Inserts the records in one statement, skipping duplicates; answers how many were new. */
export async function insertRecordsFromJson(
  pool: pg.Pool,
  records: CdrRecord[],
  load: { accountId: string; source: string; imported: boolean },
): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(INSERT_FROM_JSON, [
    JSON.stringify(records),
    load.accountId,
    load.source,
    load.imported,
  ]);
  return rows[0].n;
}

/** The slow, sure path: spool → staging table → partitions for its months → deduplicating INSERT. */
export async function insertFromSpool(
  pool: pg.Pool,
  client: pg.PoolClient,
  spoolPath: string,
  months: Date[],
  span: { accountId: string; first: Date; last: Date },
): Promise<number> {
  await client.query(`drop table if exists ${STAGE}`);
  await client.query(`create temp table ${STAGE} as select ${TARGETS} from cdrs with no data`);
  try {
    await pipeline(
      fs.createReadStream(spoolPath),
      client.query(copyFrom(`copy ${STAGE} (${TARGETS}) from stdin`)),
    );
    await ensureMonthPartitions(pool, months);
    return await insertDeduplicated(
      client,
      span,
      (onConflict) => `insert into cdrs (${TARGETS}) select ${TARGETS} from ${STAGE} ${onConflict}`,
      [],
    );
  } finally {
    await client.query(`drop table if exists ${STAGE}`);
  }
}
