// The SQL of a DIDWW CSV import (src/ingest/didww-csv.ts): a temporary staging table whose
// columns are the CSV headers with their types, filled by COPY, checked, and moved into `cdrs`.
// Headers and types come from the constant DIDWW column table (formats/didww-csv.ts), never from
// the file: a file whose header differs fails COPY's `header match`.
import type { Writable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent, type CsvColumn } from '../../formats/didww-csv.js';
import { beginLoadCopy } from './cdr-load.js';
import { insertDeduplicated, type CdrKind } from './cdrs.js';

const STAGE = 'cdr_stage';
const UUID_RE = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const TIME_COLUMNS = new Set(['time_start', 'time_connect', 'time_end']);

function stageTableSql(columns: CsvColumn[]): string {
  const defs = columns.map((c) => {
    const checks = [
      c.required ? 'not null' : '',
      c.type === 'integer' ? `check (${quoteIdent(c.header)} >= 0)` : '',
    ];
    return `${quoteIdent(c.header)} ${c.type} ${checks.join(' ')}`.trim();
  });
  return `create temp table ${STAGE} (${defs.join(', ')})`;
}

/** A fresh, empty staging table for these columns on `client`'s session. */
export async function createStage(client: pg.PoolClient, columns: CsvColumn[]): Promise<void> {
  await dropStage(client);
  await client.query(stageTableSql(columns));
}

export async function dropStage(client: pg.PoolClient): Promise<void> {
  await client.query(`drop table if exists ${STAGE}`);
}

/** Whether the session reads times without a zone as UTC (every cdrex session asks for it, in
 * store/db.ts; a pooler may drop that): the direct path's scan compares such times as UTC text. */
export async function sessionReadsUtc(client: pg.PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ tz: string }>("select current_setting('TimeZone') as tz");
  return /^(Etc\/)?(UTC|UCT|Universal|Zulu)$/i.test(rows[0].tz);
}

/** The direct path (src/ingest/didww-scan.ts): opens the load's transaction and starts a COPY
 * straight into `cdrs`, the CSV's columns in the table's order followed by the cells the scan
 * appends to each row (account, kind, source, and the trunk id for outbound rows); commitLoad or
 * rollbackLoad ends it. The header line is skipped here: the scan has checked it. */
export async function beginDirectCopy(client: pg.PoolClient, columns: CsvColumn[], kind: CdrKind) {
  const targets = [...columns.map((c) => c.column), 'account_id', 'kind', 'source'];
  if (kind === 'cdr_out') targets.push('voice_out_trunk_id');
  return beginLoadCopy(client, `copy cdrs (${targets.join(', ')}) from stdin (format csv, header true)`);
}

/** The COPY that reads the CSV bytes (header line first) into the staging table. */
export function copyIntoStage(client: pg.PoolClient): Writable & { rowCount?: number } {
  return client.query(copyFrom(`copy ${STAGE} from stdin (format csv, header match)`));
}

/** `true` for a staged row with a time outside $1 … $2 (null when no window is given). */
function outsideSql(columns: CsvColumn[]): string {
  return columns
    .filter((c) => TIME_COLUMNS.has(c.column))
    .map((c) => `${quoteIdent(c.header)} not between $1::timestamptz and $2::timestamptz`)
    .join(' or ');
}

export interface StageSummary {
  /** The months the rows start in (their partitions must exist). */
  months: Date[];
  first: Date;
  last: Date;
  /** Some row has a time outside the window. */
  outside: boolean;
}

export async function summarizeStage(
  client: pg.PoolClient,
  columns: CsvColumn[],
  window?: { from: Date; to: Date },
): Promise<StageSummary> {
  const { rows } = await client.query<StageSummary>(
    `select array_agg(distinct date_trunc('month', "Date/Time Start (UTC)", 'UTC')) as months,
            min("Date/Time Start (UTC)") as first, max("Date/Time Start (UTC)") as last,
            coalesce(bool_or(${outsideSql(columns)}), false) as outside from ${STAGE}`,
    [window?.from ?? null, window?.to ?? null],
  );
  return rows[0];
}

/** The first staged row with a time outside the window: its 1-based row number and its times,
 * by header. Rows of a freshly filled temp table lie in ctid order as COPY read them. */
export async function firstRowOutside(
  client: pg.PoolClient,
  columns: CsvColumn[],
  window: { from: Date; to: Date },
): Promise<Record<string, Date | null> & { row_number: string }> {
  const times = columns.filter((c) => TIME_COLUMNS.has(c.column));
  const { rows } = await client.query<Record<string, Date | null> & { row_number: string }>(
    `select * from (select row_number() over (order by ctid) as row_number,
              ${times.map((c) => quoteIdent(c.header)).join(', ')} from ${STAGE}) s
      where ${outsideSql(columns)} order by row_number limit 1`,
    [window.from, window.to],
  );
  return rows[0];
}

function insertSql(columns: CsvColumn[], kind: CdrKind, onConflict: string): string {
  const targets = columns.map((c) => c.column);
  const values = columns.map((c) =>
    c.column === 'attempt' ? `coalesce(${quoteIdent(c.header)}, 1)` : quoteIdent(c.header),
  );
  targets.push('account_id', 'kind', 'source');
  values.push('$1::text', '$2::text', '$3::text');
  if (kind === 'cdr_out') {
    targets.push('voice_out_trunk_id');
    values.push(
      `coalesce($4::text, case when "Voice OUT Trunk" ~ '${UUID_RE}' then lower("Voice OUT Trunk") end)`,
    );
  }
  return `insert into cdrs (${targets.join(', ')}) select ${values.join(', ')} from ${STAGE}
    ${onConflict}`;
}

/** Moves the staged rows into `cdrs`, first write wins; returns how many were inserted. */
export async function insertStaged(
  client: pg.PoolClient,
  columns: CsvColumn[],
  row: { accountId: string; kind: CdrKind; source: string; voiceOutTrunkId?: string },
  span: { first: Date; last: Date },
): Promise<number> {
  const params: (string | null)[] = [row.accountId, row.kind, row.source];
  if (row.kind === 'cdr_out') params.push(row.voiceOutTrunkId ?? null); // lower case, or none (importDidwwCsv)
  return insertDeduplicated(
    client,
    { accountId: row.accountId, kind: row.kind, first: span.first, last: span.last },
    (onConflict) => insertSql(columns, row.kind, onConflict),
    params,
  );
}
