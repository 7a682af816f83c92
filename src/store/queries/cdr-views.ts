// The Kazoo view of an account's CDRs as SQL: a page of list rows with their keys, every row
// (through a cursor), CSV (COPY), one CDR with everything it was sent with, totals (optionally
// per time bucket), interactions and their legs. src/search/cdr-search-service.ts shapes the
// answers (paging tokens, ASR); the search itself (WHERE, ORDER BY) is cdr-search.ts.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import { csvFormulaSafe } from '../../formats/csv-safety.js';
import { DETAIL_FIELDS, INTEGER_FIELDS, KAZOO_ID, listFields, type KazooIdKey } from '../../formats/kazoo.js';
import type { AccountDb } from '../account-db.js';
import { prepareCopy, SqlParams } from '../sql.js';
import {
  buildAggregate,
  buildSearch,
  keysetSql,
  KEYSET_COLUMNS,
  orderBy,
  type CdrSearch,
  type Keyset,
} from './cdr-search.js';
import { MASK_DIGITS, maskedIf } from './lifecycle.js';

const jsonObject = (fields: [string, string][]) =>
  `json_build_object(${fields.map(([name, sql]) => `'${name}', ${sql}`).join(', ')})`;

/**
 * A list row carries every column, "" where the CDR has none: cb_cdrs reads each column with an
 * empty default (col_* functions) and, by default, filters no empties out. Integers stay integers.
 */
function listValue([name, sql]: [string, string]): [string, string] {
  if (name === 'imported') return [name, sql];
  if (INTEGER_FIELDS.has(name)) return [name, `coalesce(to_jsonb(${sql}), '""'::jsonb)`];
  return [name, `coalesce((${sql})::text, '')`];
}
const listObject = (offset: string) => jsonObject(listFields(offset).map(listValue));
/** Built once per offset placeholder (there are two: `$1::int` and its setting form), not for
 * every page: the 4 KB of SQL and the arrays behind it were about a tenth of what a page allocated. */
const listJsonByOffset = new Map<string, string>();
function listJson(offset: string): string {
  let sql = listJsonByOffset.get(offset);
  if (sql === undefined) listJsonByOffset.set(offset, (sql = `${listObject(offset)}::text as doc`));
  return sql;
}

/** CSV cells: NULL prints as an empty cell, as Kazoo's; `imported` as `true`/`false`, not `t`/`f`. */
const csvValue = ([name, sql]: [string, string]): [string, string] =>
  name === 'imported' ? [name, `case when ${sql} then 'true' else 'false' end`] : [name, sql];

/** A row's JSON with the key of the row (for paging). */
export interface KeyedDoc {
  doc: string;
  key: Keyset;
}

interface PageRow {
  doc: string;
  k_t: string;
  k_c: string;
  k_a: number;
  k_k: string;
}

const keyed = (r: PageRow): KeyedDoc => ({
  doc: r.doc,
  key: { timeStart: r.k_t, callId: r.k_c, attempt: r.k_a, kind: r.k_k },
});

/**
 * A named (prepared) statement per query shape. Planning against every month partition and its
 * indexes costs ~5 ms, executing a page ~0.3 ms: after a few runs PostgreSQL keeps a generic plan
 * that prunes partitions at execution time. Only for the few shapes without filters: filters
 * give a client endless shapes (any number of them, of values), and every named statement stays
 * in its connection's memory for the connection's life.
 */
function prepared(query: { text: string; values: unknown[] }): pg.QueryConfig {
  let name = statementNames.get(query.text);
  if (name === undefined) {
    // A handful of shapes in practice; the bound only guards against a mistake making more.
    if (statementNames.size >= 256) statementNames.clear();
    name = `cdrs_${createHash('sha1').update(query.text).digest('hex').slice(0, 20)}`;
    statementNames.set(query.text, name);
  }
  return { name, ...query };
}
/** Each prepared shape's statement name, by its text, instead of a SHA-1 of 5 KB of SQL per page. */
const statementNames = new Map<string, string>();

/** Up to `search.limit` list rows from the search's start key on, each with its key. */
export async function selectListRows(db: AccountDb, search: CdrSearch): Promise<KeyedDoc[]> {
  const query = buildSearch(search, (offset) => `${listJson(offset)}, ${KEYSET_COLUMNS}`);
  const { rows } = await db.read<PageRow>(search.conditions.length === 0 ? prepared(query) : query);
  return rows.map(keyed);
}

/** Every matching row's JSON, fetched through a cursor in batches: memory stays flat. */
export async function* streamDocs(
  db: AccountDb,
  search: CdrSearch,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const { client, done } = await db.stream();
  // A generator waiting on the database cannot be stopped from outside until that wait ends:
  // when the client leaves, end the query (and so the wait) here.
  const onAbort = () => done(new Error('stream abandoned'));
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const query = buildSearch(search, listJson);
  const cursor = client.query(new Cursor<{ doc: string }>(query.text, query.values));
  let failure: Error | undefined;
  try {
    for (;;) {
      const rows = await cursor.read(1000);
      if (rows.length === 0) break;
      for (const r of rows) yield r.doc;
    }
  } catch (err) {
    failure = err as Error;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await cursor.close().catch((err: Error) => (failure ??= err));
    done(failure);
  }
}

/**
 * The list columns as CSV, header first, straight out of COPY. COPY takes no bind parameters, so
 * the search's values are set as transaction-local settings (with bind parameters) that the
 * query reads back: no value ever becomes SQL text.
 */
export async function streamCsv(
  db: AccountDb,
  search: CdrSearch,
  options: { formulaSafe?: boolean } = {},
): Promise<Readable> {
  const { client, done } = await db.stream();
  let stream: Readable;
  try {
    const params = new SqlParams('setting');
    // The portal's download escapes spreadsheet formulas (formats/csv-safety.ts); API CSV is literal.
    const cell = options.formulaSafe ? csvFormulaSafe : (sql: string) => sql;
    const projection = (offset: string) =>
      listFields(offset)
        .map(csvValue)
        .map(([name, sql]) => `${cell(sql)} as "${name}"`)
        .join(', ');
    const query = buildSearch(search, projection, params);
    await prepareCopy(client, params);
    stream = client.query(copyTo(`copy (${query.text}) to stdout (format csv, header)`));
  } catch (err) {
    done(err as Error);
    throw err;
  }
  stream.on('end', () => done());
  stream.on('error', (err) => done(err));
  stream.on('close', () => done(stream.readableEnded ? undefined : new Error('CSV stream closed early')));
  return stream;
}

/** The row a Kazoo id names (formats/kazoo.ts): one lookup on the dedupe index. */
function idMatch(db: AccountDb, key: KazooIdKey, params: SqlParams): string {
  return `account_id = ${params.add(db.accountId)}::text and kind = ${params.add(key.kind)}::text
  and time_start = ${params.add(key.timeStart)}::timestamptz
  and call_id = ${params.add(key.callId)}::text and attempt = ${params.add(key.attempt)}::int`;
}

/** What a source sent, with the caller's number masked wherever it sits when the account masks. */
const MASKED_EXTRA = maskedIf(MASK_DIGITS, 'extra', 'cdrex_mask_jsonb');

/** One CDR's JSON, in UTC, with every field it was sent with; nulls included. */
export async function selectCdrDoc(db: AccountDb, key: KazooIdKey): Promise<string | undefined> {
  const params = new SqlParams();
  const where = idMatch(db, key, params);
  const detail = jsonObject([...listFields(`${params.add(0)}::int`), ...DETAIL_FIELDS]);
  const { rows } = await db.query<{ doc: string }>(
    prepared({
      text: `select (${detail}::jsonb || ${MASKED_EXTRA} || jsonb_build_object('id', ${KAZOO_ID}))::text as doc
       from cdrs where ${where}`,
      values: params.values,
    }),
  );
  return rows[0]?.doc;
}

// `cost` in Kazoo's units (1 USD = 10000), the sum of what the list prints (each row rounded to
// whole units, formats/kazoo.ts): rounding the sum instead drifts from the rows' total when
// uploads carry fractions of a unit.
const TOTALS = `count(*)::bigint as calls,
  count(*) filter (where coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0) > 0)::bigint as answered,
  coalesce(sum(duration_s), 0)::bigint as duration_seconds,
  coalesce(sum(coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0)), 0)::bigint as billing_seconds,
  coalesce(sum(round(coalesce(cost, 0) * 10000)), 0)::bigint::text as cost`;

/** Counts and sums as text (bigints), keyed by the names of TOTALS. */
export type TotalsRow = Record<
  'calls' | 'answered' | 'duration_seconds' | 'billing_seconds' | 'cost',
  string
>;

/** The range's totals; with a bucket, the same per hour or day of local time, in time order. */
export async function selectTotals(
  db: AccountDb,
  search: CdrSearch,
  bucket?: 'hour' | 'day',
): Promise<{ all: TotalsRow; buckets?: (TotalsRow & { start: string })[] }> {
  const { rows } = await db.query<TotalsRow>(buildAggregate(search, TOTALS));
  if (!bucket) return { all: rows[0] };
  // Buckets start at local midnight or the local hour, given in UTC.
  const params = new SqlParams();
  const unit = params.add(bucket);
  const start = (offset: string) =>
    `(date_trunc(${unit}::text, (time_start at time zone 'UTC') + make_interval(secs => ${offset}))
      - make_interval(secs => ${offset}))`;
  const grouped = await db.query<TotalsRow & { start: string }>(
    buildAggregate(
      search,
      (offset) => `to_char(${start(offset)}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as start, ${TOTALS}`,
      'start',
      params,
    ),
  );
  return { all: rows[0], buckets: grouped.rows };
}

/** Up to `limit` interactions (each its first leg, with the number of legs), with their keys. */
export async function selectInteractionRows(
  db: AccountDb,
  search: CdrSearch,
  limit: number,
): Promise<KeyedDoc[]> {
  const params = new SqlParams();
  const doc = `(${listObject(`${params.add(Math.trunc(search.utcOffsetS ?? 0))}::int`)}::jsonb
    || jsonb_build_object('legs', legs))::text as doc`;
  const inner = buildSearch(
    { ...search, startKey: undefined },
    `*, count(*) over (partition by coalesce(interaction_id, call_id)) as legs,
     row_number() over (partition by coalesce(interaction_id, call_id) order by time_start, call_id, attempt, kind) as leg_no`,
    params,
  );
  const keyset = search.startKey ? ` and ${keysetSql(search, search.startKey, params)}` : '';
  const { rows } = await db.query<PageRow>(
    `select ${doc}, ${KEYSET_COLUMNS} from (${inner.text}) as cdrs where leg_no = 1${keyset}
      ${orderBy(search)} limit ${params.add(limit)}::int`,
    params.values,
  );
  return rows.map(keyed);
}

/**
 * The legs of one interaction, in time order. `id` is an interaction id, the call id of a call
 * without one, or (as Kazoo's load_legs) the Kazoo id of any CDR of it: that CDR's interaction.
 */
export async function selectLegDocs(db: AccountDb, id: string, key?: KazooIdKey): Promise<string[]> {
  let interaction = id;
  if (key) {
    const params = new SqlParams();
    const named = await db.query<{ interaction: string }>(
      `select coalesce(interaction_id, call_id) as interaction from cdrs where ${idMatch(db, key, params)}`,
      params.values,
    );
    // An id shaped like a CDR id that names no CDR is still tried as an interaction id.
    interaction = named.rows[0]?.interaction ?? id;
  }
  // Legs in UTC: $3 is the offset.
  const { rows } = await db.query<{ doc: string }>(
    `select ${listJson('$3::int')} from cdrs
      where account_id = $1::text and (interaction_id = $2::text or (interaction_id is null and call_id = $2::text))
      order by time_start, call_id, attempt, kind`,
    [db.accountId, interaction, 0],
  );
  return rows.map((r) => r.doc);
}
