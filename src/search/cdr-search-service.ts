// Reading CDRs in the Kazoo view: a page with its next key, everything (streamed), CSV (COPY),
// one CDR with every field it was sent with, a summary with time buckets, interactions and legs.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { to as copyTo } from 'pg-copy-streams';
import { csvFormulaSafe } from '../formats/csv-safety.js';
import {
  DETAIL_FIELDS,
  INTEGER_FIELDS,
  KAZOO_ID,
  LIST_FIELDS,
  parseKazooId,
  UTC_OFFSET_TOKEN,
  type KazooIdKey,
} from '../formats/kazoo.js';
import type { AccountDb } from '../store/account-db.js';
import { MASK_DIGITS } from '../store/queries/lifecycle.js';
import {
  bindOffset,
  buildAggregate,
  buildSearch,
  keysetSql,
  KEYSET_COLUMNS,
  orderBy,
  SqlParams,
  type CdrSearch,
  type Keyset,
} from '../store/queries/cdr-search.js';

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
const LIST_OBJECT = jsonObject(LIST_FIELDS.map(listValue));
const LIST_JSON = `${LIST_OBJECT}::text as doc`;

/** CSV cells: NULL prints as an empty cell, as Kazoo's; `imported` as `true`/`false`, not `t`/`f`. */
const csvValue = ([name, sql]: [string, string]): [string, string] =>
  name === 'imported' ? [name, `case when ${sql} then 'true' else 'false' end`] : [name, sql];

export function encodeKey(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.t, k.c, k.a, k.k])).toString('base64url');
}

/** undefined when the key is not one we issued. */
export function decodeKey(key: string): Keyset | undefined {
  try {
    const [t, c, a, k] = JSON.parse(Buffer.from(key, 'base64url').toString('utf8')) as unknown[];
    const valid =
      typeof t === 'string' &&
      // Years 0001-9999 only: JavaScript parses ±275760, which PostgreSQL refuses.
      /^\d{4}-\d{2}-\d{2}T/.test(t) &&
      !Number.isNaN(Date.parse(t)) &&
      typeof c === 'string' &&
      Number.isInteger(a) &&
      (k === 'cdr_in' || k === 'cdr_out');
    return valid ? { t, c, a: a as number, k: k as string } : undefined;
  } catch {
    return undefined;
  }
}

interface PageRow {
  doc: string;
  k_t: string;
  k_c: string;
  k_a: number;
  k_k: string;
}

export interface Page {
  /** Each row's JSON, already serialised by PostgreSQL. */
  docs: string[];
  startKey?: string;
  nextStartKey?: string;
}

/**
 * A named (prepared) statement per query shape. Planning against every month partition and its
 * indexes costs ~5 ms, executing a page ~0.3 ms: after a few runs PostgreSQL keeps a generic plan
 * that prunes partitions at execution time. Only for the few shapes without filters: filters
 * give a client endless shapes (any number of them, of values), and every named statement stays
 * in its connection's memory for the connection's life.
 */
function prepared(query: { text: string; values: unknown[] }): pg.QueryConfig {
  return { name: `cdrs_${createHash('sha1').update(query.text).digest('hex').slice(0, 20)}`, ...query };
}

export async function listPage(db: AccountDb, search: CdrSearch, pageSize: number): Promise<Page> {
  const query = buildSearch({ ...search, limit: pageSize + 1 }, `${LIST_JSON}, ${KEYSET_COLUMNS}`);
  const { rows } = await db.read<PageRow>(search.conditions.length === 0 ? prepared(query) : query);
  const keyOf = (r: PageRow) => encodeKey({ t: r.k_t, c: r.k_c, a: r.k_a, k: r.k_k });
  const page = rows.slice(0, pageSize);
  return {
    docs: page.map((r) => r.doc),
    startKey: page[0] ? keyOf(page[0]) : undefined,
    nextStartKey: rows.length > pageSize ? keyOf(rows[pageSize]) : undefined,
  };
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
  const query = buildSearch(search, LIST_JSON);
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
    const projection = LIST_FIELDS.map(csvValue)
      .map(([name, sql]) => `${cell(sql)} as "${name}"`)
      .join(', ');
    const query = buildSearch(search, projection, params);
    await client.query(params.settings());
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

/** The row a Kazoo id names (formats/kazoo.ts): one lookup on the dedupe index, $1–$5. */
const ID_MATCH = `account_id = $1::text and kind = $2::text and time_start = $3::timestamptz
  and call_id = $4::text and attempt = $5::int`;
const idValues = (db: AccountDb, key: KazooIdKey) => [
  db.accountId,
  key.kind,
  key.timeStart,
  key.callId,
  key.attempt,
];

/** One CDR by its Kazoo id, with everything it was sent with. */
export async function findCdr(db: AccountDb, kazooId: string): Promise<string | undefined> {
  const key = parseKazooId(kazooId);
  if (!key) return undefined;
  const { rows } = await db.query<{ doc: string }>(
    prepared({
      text: `select (${FIND_JSON}::jsonb || ${MASKED_EXTRA} || jsonb_build_object('id', ${KAZOO_ID}))::text as doc
       from cdrs where ${ID_MATCH}`,
      values: [...idValues(db, key), 0],
    }),
  );
  return rows[0] ? stripNulls(rows[0].doc) : undefined;
}

/** What a source sent, with the caller's number masked wherever it sits when the account masks. */
const MASKED_EXTRA = `cdrex_mask_jsonb(extra, source_number, ${MASK_DIGITS})`;

/** Detail in UTC: the offset is bound as the statement's 6th parameter. */
const FIND_JSON = jsonObject([...LIST_FIELDS, ...DETAIL_FIELDS]).replaceAll(UTC_OFFSET_TOKEN, '$6::int');

// Detail is the document Kazoo stored (crossbar_doc:load), not a list row: it holds only the
// fields the CDR has, so empties are left out here where a list row prints "".
function stripNulls(doc: string): string {
  const obj = JSON.parse(doc) as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj))
    if (v === null || (k === 'imported' && v === false)) delete obj[k];
  return JSON.stringify(obj);
}

export interface Totals {
  calls: number;
  answered: number;
  asr: number;
  duration_seconds: number;
  billing_seconds: number;
  cost: string;
}

// `cost` in Kazoo's units (1 USD = 10000), the sum of what the list prints (each row rounded to
// whole units, formats/kazoo.ts): rounding the sum instead drifts from the rows' total when
// uploads carry fractions of a unit.
const TOTALS = `count(*)::bigint as calls,
  count(*) filter (where coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0) > 0)::bigint as answered,
  coalesce(sum(duration_s), 0)::bigint as duration_seconds,
  coalesce(sum(coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0)), 0)::bigint as billing_seconds,
  coalesce(sum(round(coalesce(cost, 0) * 10000)), 0)::bigint::text as cost`;

function totals(r: Record<string, string>): Totals {
  const calls = Number(r.calls);
  const answered = Number(r.answered);
  return {
    calls,
    answered,
    asr: calls ? Math.round((answered / calls) * 10000) / 10000 : 0,
    duration_seconds: Number(r.duration_seconds),
    billing_seconds: Number(r.billing_seconds),
    cost: r.cost,
  };
}

/** Counts and totals for the range; with a bucket, the same per hour or day of local time. */
export async function summarize(
  db: AccountDb,
  search: CdrSearch,
  bucket?: 'hour' | 'day',
): Promise<Totals & { buckets?: (Totals & { start: string })[] }> {
  const { rows } = await db.query<Record<string, string>>(buildAggregate(search, TOTALS));
  const result: Totals & { buckets?: (Totals & { start: string })[] } = totals(rows[0]);
  if (bucket) {
    // Buckets start at local midnight or the local hour, given in UTC.
    const params = new SqlParams();
    const start = `(date_trunc(${params.add(bucket)}::text, (time_start at time zone 'UTC') + make_interval(secs => ${UTC_OFFSET_TOKEN}))
      - make_interval(secs => ${UTC_OFFSET_TOKEN}))`;
    const grouped = await db.query<Record<string, string>>(
      buildAggregate(
        search,
        `to_char(${start}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as start, ${TOTALS}`,
        'start',
        params,
      ),
    );
    result.buckets = grouped.rows.map((r) => ({ start: r.start, ...totals(r) }));
  }
  return result;
}

/** One row per interaction (its first leg, with the number of legs), newest first. */
export async function listInteractions(db: AccountDb, search: CdrSearch, pageSize: number): Promise<Page> {
  const params = new SqlParams();
  const doc = bindOffset(
    `(${LIST_JSON.replace(/ as doc$/, '')}::jsonb || jsonb_build_object('legs', legs))::text as doc`,
    params,
    search.utcOffsetS,
  );
  const inner = buildSearch(
    { ...search, startKey: undefined },
    `*, count(*) over (partition by coalesce(interaction_id, call_id)) as legs,
     row_number() over (partition by coalesce(interaction_id, call_id) order by time_start, call_id, attempt, kind) as leg_no`,
    params,
  );
  const keyset = search.startKey ? ` and ${keysetSql(search, search.startKey, params)}` : '';
  const limit = params.add(pageSize + 1);
  const { rows } = await db.query<PageRow>(
    `select ${doc}, ${KEYSET_COLUMNS} from (${inner.text}) as cdrs where leg_no = 1${keyset}
      ${orderBy(search)} limit ${limit}::int`,
    params.values,
  );
  const keyOf = (r: PageRow) => encodeKey({ t: r.k_t, c: r.k_c, a: r.k_a, k: r.k_k });
  return {
    docs: rows.slice(0, pageSize).map((r) => r.doc),
    startKey: rows[0] ? keyOf(rows[0]) : undefined,
    nextStartKey: rows.length > pageSize ? keyOf(rows[pageSize]) : undefined,
  };
}

/**
 * The legs of one interaction, in time order. `id` is an interaction id, the call id of a call
 * without one, or (as Kazoo's load_legs) the Kazoo id of any CDR of it: that CDR's interaction.
 */
export async function listLegs(db: AccountDb, id: string): Promise<string[]> {
  const key = parseKazooId(id);
  const named = key
    ? await db.query<{ interaction: string }>(
        `select coalesce(interaction_id, call_id) as interaction from cdrs where ${ID_MATCH}`,
        idValues(db, key),
      )
    : undefined;
  const { rows } = await db.query<{ doc: string }>(
    `select ${LEGS_JSON} from cdrs
      where account_id = $1::text and (interaction_id = $2::text or (interaction_id is null and call_id = $2::text))
      order by time_start, call_id, attempt, kind`,
    // An id shaped like a CDR id that names no CDR is still tried as an interaction id.
    [db.accountId, named?.rows[0]?.interaction ?? id, 0],
  );
  return rows.map((r) => r.doc);
}

/** Legs in UTC: the offset is bound as the statement's 3rd parameter. */
const LEGS_JSON = LIST_JSON.replaceAll(UTC_OFFSET_TOKEN, '$3::int');
