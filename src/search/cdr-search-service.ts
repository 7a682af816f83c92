// Reading CDRs in the Kazoo view: a page with its paging keys, everything (streamed), CSV, one
// CDR with every field it was sent with, a summary with time buckets, interactions and legs. The
// SQL is src/store/queries/cdr-views.ts; this module shapes what it returns into Kazoo's answers.
import { parseKazooId } from '../formats/kazoo.js';
import type { AccountDb } from '../store/account-db.js';
import type { CdrSearch, Keyset } from '../store/queries/cdr-search.js';
import {
  selectCdrDoc,
  selectInteractionRows,
  selectLegDocs,
  selectListRows,
  selectTotals,
  type KeyedDoc,
  type TotalsRow,
} from '../store/queries/cdr-views.js';

export { streamCsv, streamDocs } from '../store/queries/cdr-views.js';

/** next_start_key: a client-visible token, so its form (base64url of [time, call id, attempt,
 * kind]) never changes; keys issued before stay valid. */
export function encodeKey(k: Keyset): string {
  return Buffer.from(JSON.stringify([k.timeStart, k.callId, k.attempt, k.kind])).toString('base64url');
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
    return valid ? { timeStart: t, callId: c, attempt: a as number, kind: k as string } : undefined;
  } catch {
    return undefined;
  }
}

export interface Page {
  /** Each row's JSON, already serialised by PostgreSQL. */
  docs: string[];
  startKey?: string;
  nextStartKey?: string;
}

/** `pageSize + 1` rows read: the one past the page, if any, is where the next page starts. */
function page(rows: KeyedDoc[], pageSize: number): Page {
  const shown = rows.slice(0, pageSize);
  return {
    docs: shown.map((r) => r.doc),
    startKey: shown[0] ? encodeKey(shown[0].key) : undefined,
    nextStartKey: rows.length > pageSize ? encodeKey(rows[pageSize].key) : undefined,
  };
}

export async function listPage(db: AccountDb, search: CdrSearch, pageSize: number): Promise<Page> {
  return page(await selectListRows(db, { ...search, limit: pageSize + 1 }), pageSize);
}

/** One CDR by its Kazoo id, with everything it was sent with. */
export async function findCdr(db: AccountDb, kazooId: string): Promise<string | undefined> {
  const key = parseKazooId(kazooId);
  if (!key) return undefined;
  const doc = await selectCdrDoc(db, key);
  return doc === undefined ? undefined : stripNulls(doc);
}

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

function totals(r: TotalsRow): Totals {
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
  const { all, buckets } = await selectTotals(db, search, bucket);
  const result: Totals & { buckets?: (Totals & { start: string })[] } = totals(all);
  if (buckets) result.buckets = buckets.map((r) => ({ start: r.start, ...totals(r) }));
  return result;
}

/** One row per interaction (its first leg, with the number of legs), newest first. */
export async function listInteractions(db: AccountDb, search: CdrSearch, pageSize: number): Promise<Page> {
  return page(await selectInteractionRows(db, search, pageSize + 1), pageSize);
}

/**
 * The legs of one interaction, in time order. `id` is an interaction id, the call id of a call
 * without one, or (as Kazoo's load_legs) the Kazoo id of any CDR of it: that CDR's interaction.
 */
export async function listLegs(db: AccountDb, id: string): Promise<string[]> {
  return selectLegDocs(db, id, parseKazooId(id));
}
