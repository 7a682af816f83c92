// Translates a Kazoo list query string into a CDR search: the Gregorian time range and its rules,
// paging, order, `utc_offset`, and every filter form.
import { GREGORIAN_OFFSET } from '../../formats/kazoo.js';
import { decodeKey } from '../../search/cdr-search-service.js';
import type { CdrCondition, CdrSearch, ConditionOp } from '../../store/queries/cdr-search.js';

/** A Kazoo 400: `data` is `{field: {rule: {message, cause}}}`. */
export class KazooValidationError extends Error {
  constructor(
    readonly data: Record<string, Record<string, { message: string; cause?: unknown }>>,
    message = 'validation error',
  ) {
    super(message);
  }
}

function invalid(field: string, rule: string, message: string, cause?: unknown): KazooValidationError {
  return new KazooValidationError({
    [field]: { [rule]: { message, ...(cause === undefined ? {} : { cause }) } },
  });
}

function integer(query: Record<string, string>, name: string): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d{1,15}$/.test(raw)) throw invalid(name, 'type', `${name} must be an integer`, raw);
  return Number(raw);
}

export const MAX_PAGE_SIZE = 1000;

export interface ListParams {
  search: CdrSearch;
  pageSize: number;
  paginate: boolean;
}

const FILTER_OPS: [string, ConditionOp][] = [
  ['filter_not_', 'not'],
  ['filter_', 'eq'],
];
const KEY_OPS: Record<string, ConditionOp> = {
  has_key: 'has_key',
  key_missing: 'key_missing',
  has_value: 'has_value',
  value_missing: 'value_missing',
};

/** The most values one any-of filter may list: each is a clause of the query, and an unbounded
 * list made queries (and the statements PostgreSQL keeps for them) as large as a client liked. */
export const MAX_FILTER_VALUES = 100;

/** `["a","b"]` is any-of; anything else is one value. */
function values(name: string, raw: string): string[] {
  if (raw.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(raw) as unknown;
    } catch {
      return [raw]; // a plain value that happens to start with [
    }
    if (
      Array.isArray(list) &&
      list.length > 0 &&
      list.every((v) => ['string', 'number', 'boolean'].includes(typeof v))
    ) {
      if (list.length > MAX_FILTER_VALUES)
        throw invalid(name, 'maxItems', `at most ${MAX_FILTER_VALUES} values may be listed`, list.length);
      return list.map(String);
    }
  }
  return [raw];
}

/** Gregorian seconds of 1970-01-01 and of the last second of 9999: nothing is stored outside
 * them (ingestion starts in 2000), and PostgreSQL and JavaScript dates agree inside them. */
const EARLIEST_G = GREGORIAN_OFFSET;
const LATEST_G = GREGORIAN_OFFSET + 253402300799;
const clampGregorian = (g: number) => Math.min(Math.max(g, EARLIEST_G), LATEST_G);

// Kept whole on purpose: one pass over Kazoo's query string, a few lines per parameter.
export function parseListParams(
  query: Record<string, string | string[]>,
  accountId: string,
  options: { maxRangeS: number; now: Date },
): ListParams {
  const flat: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(query)) flat[k] = Array.isArray(v) ? v[v.length - 1] : v;

  const nowGregorian = Math.floor(options.now.getTime() / 1000) + GREGORIAN_OFFSET;
  const to = integer(flat, 'created_to') ?? nowGregorian;
  const from = integer(flat, 'created_from') ?? to - options.maxRangeS;
  // Both range errors sit under created_from, as crossbar_view:time_range/5 puts them; a reversed
  // range names created_from as its cause, a too-long one created_to.
  if (to < from)
    throw invalid('created_from', 'date_range', `created_to ${to} is prior to created_from ${from}`, from);
  if (to - from > options.maxRangeS) {
    throw invalid(
      'created_from',
      'date_range',
      `created_to ${to} is more than ${options.maxRangeS} seconds from created_from ${from}`,
      to,
    );
  }
  const pageSizeRaw = integer(flat, 'page_size');
  if (pageSizeRaw !== undefined && pageSizeRaw < 1) {
    throw invalid('page_size', 'minimum', 'page size must be at least 1', pageSizeRaw);
  }
  const utcOffset = integer(flat, 'utc_offset') ?? 0;
  if (Math.abs(utcOffset) > 14 * 3600)
    throw invalid('utc_offset', 'maximum', 'utc_offset must be within ±50400 seconds', utcOffset);
  let startKey;
  if (flat.start_key !== undefined && flat.start_key !== '') {
    startKey = decodeKey(flat.start_key);
    if (!startKey)
      throw invalid('start_key', 'type', 'start_key is not a key this server issued', flat.start_key);
  }

  const conditions: CdrCondition[] = [];
  for (const [name, raw] of Object.entries(flat)) {
    const keyOp = Object.hasOwn(KEY_OPS, name) ? KEY_OPS[name] : undefined;
    if (keyOp) {
      for (const key of values(name, raw)) conditions.push({ op: keyOp, key });
      continue;
    }
    const prefix = FILTER_OPS.find(([p]) => name.startsWith(p));
    if (prefix)
      conditions.push({ op: prefix[1], key: name.slice(prefix[0].length), values: values(name, raw) });
  }
  return {
    search: {
      accountId,
      from: new Date((clampGregorian(from) - GREGORIAN_OFFSET) * 1000),
      // created_to is inclusive, as Kazoo's, and covers its whole second: a call starting at
      // 12:00:00.5 is in a range ending at 12:00:00 (docs/api-kazoo.md, "Time range and paging").
      to: new Date((clampGregorian(to + 1) - GREGORIAN_OFFSET) * 1000),
      conditions,
      ascending: flat.ascending === 'true',
      utcOffsetS: utcOffset,
      startKey,
    },
    pageSize: Math.min(pageSizeRaw ?? 50, MAX_PAGE_SIZE),
    paginate: flat.paginate !== 'false',
  };
}
