// Searching an account's CDRs: a time range, filters, keyset paging. Newest first by default, over
// both directions and across month partitions, ordered by (time_start, call_id, attempt, kind),
// the order of the `cdrs_dedupe` index, so a page is an index range scan whatever the depth.
import { ValidationError } from '../../errors.js';
import { FILTER_FIELDS, JSON_FILTER_ROOTS, UTC_OFFSET_TOKEN, type FilterField } from '../../formats/kazoo.js';

export type ConditionOp = 'eq' | 'not' | 'has_key' | 'key_missing' | 'has_value' | 'value_missing';

export interface CdrCondition {
  op: ConditionOp;
  key: string;
  /** For eq/not: any-of. */
  values?: string[];
}

export interface Keyset {
  t: string; // time_start, ISO 8601 with microseconds
  c: string; // call_id
  a: number; // attempt
  k: string; // kind
}

export interface CdrSearch {
  accountId: string;
  from: Date;
  /** Exclusive: rows start before it (Kazoo's created_to + 1 s, see list-params.ts). */
  to: Date;
  conditions: CdrCondition[];
  ascending?: boolean;
  utcOffsetS?: number;
  startKey?: Keyset;
  limit?: number;
}

const ACCOUNT_ID = /^[0-9a-f]{32}$/;

export interface BuiltQuery {
  text: string;
  values: unknown[];
}

/**
 * Values of a query, kept out of its text. `add()` returns the placeholder to write: `$N` for a
 * bound statement, or, for COPY (which takes no bind parameters), a read of a transaction-local
 * setting that `settings()` sets with bind parameters first. Either way the value itself never
 * becomes SQL text.
 */
export class SqlParams {
  readonly values: unknown[] = [];
  constructor(readonly style: 'bind' | 'setting' = 'bind') {}

  add(value: unknown): string {
    if (value === null || value === undefined) throw new Error('SqlParams: null values are not supported');
    this.values.push(value);
    const n = this.values.length;
    return this.style === 'bind' ? `$${n}` : `current_setting('cdrex.p${n}')`;
  }

  /**
   * The account the query is about. Bound like any value, except in the 'setting' style: Citus
   * routes a query to the one shard that holds the account only when the distribution column is
   * compared with a constant, and a setting read is not one (the COPY would run on every shard).
   * There the id is written as a literal, after the check that it is 32 hex digits, the same
   * check setAccount() makes (src/store/account-db.ts).
   */
  account(accountId: string): string {
    if (this.style === 'bind') return this.add(accountId);
    if (!ACCOUNT_ID.test(accountId)) throw new Error('SqlParams: not an account id');
    return `'${accountId}'`;
  }

  /** For the 'setting' style: the statement that sets every value (run it in the same
   * transaction), through cdrex_set_params (migration 20) so that Citus's workers see them. */
  settings(): BuiltQuery {
    const args = this.values.map((_, i) => `$${i + 1}::text`);
    return {
      text: `select cdrex_set_params(${args.join(', ') || 'variadic array[]::text[]'})`,
      values: this.values.map(settingText),
    };
  }
}

/** A value as the text its cast reads back (arrays in PostgreSQL's array syntax, by the driver). */
function settingText(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  return value;
}

function resolve(key: string): { field: FilterField } | { jsonPath: string[] } {
  // hasOwn: a key such as `toString` must not find Object.prototype's members.
  const field = Object.hasOwn(FILTER_FIELDS, key) ? FILTER_FIELDS[key] : undefined;
  if (field) return { field };
  const [root, ...rest] = key.split('.');
  if (JSON_FILTER_ROOTS.includes(root) && rest.length > 0 && rest.every((p) => /^[\w-]+$/.test(p))) {
    return { jsonPath: [root, ...rest] };
  }
  throw new ValidationError([{ field: key, title: 'is not a field that can be filtered on' }]);
}

function nested(path: string[], value: unknown): unknown {
  return path.reduceRight((inner, key) => ({ [key]: inner }), value);
}

function typed(field: FilterField, key: string, value: string): unknown {
  if (field.kind === 'integer') {
    if (!/^-?\d{1,12}$/.test(value))
      throw new ValidationError([{ field: key, title: 'must be a whole number' }]);
    return Number(value);
  }
  if (field.kind === 'boolean') {
    if (value !== 'true' && value !== 'false')
      throw new ValidationError([{ field: key, title: 'must be true or false' }]);
    return value === 'true';
  }
  if (field.kind === 'direction') {
    if (value !== 'inbound' && value !== 'outbound') {
      throw new ValidationError([{ field: key, title: 'must be inbound or outbound' }]);
    }
    return value === 'inbound' ? 'cdr_in' : 'cdr_out';
  }
  return value;
}

/** The type a filter value binds as, by field kind. */
const SCALAR_TYPE: Record<FilterField['kind'], string> = {
  text: 'text',
  prefix: 'text',
  direction: 'text',
  integer: 'bigint',
  boolean: 'boolean',
};

/** The array type a multi-value filter binds as, by field kind. */
const ARRAY_TYPE: Record<FilterField['kind'], string> = {
  text: 'text[]',
  prefix: 'text[]',
  direction: 'text[]',
  integer: 'bigint[]',
  boolean: 'boolean[]',
};

/** The JSON roots as SQL literals, written from this constant table, never from a request. */
const JSON_ROOT_SQL: Record<string, string> = Object.fromEntries(
  JSON_FILTER_ROOTS.map((root) => [root, `'${root}'`]),
);

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function conditionSql(cond: CdrCondition, params: SqlParams): string {
  const target = resolve(cond.key);
  if ('jsonPath' in target) {
    const path = target.jsonPath;
    switch (cond.op) {
      case 'eq':
      case 'not': {
        // `extra ? root` and `extra -> root` match the partial GIN index on that object.
        const [root, ...rest] = path;
        // `root` is one of JSON_FILTER_ROOTS (resolve() checked), so it may be written as text.
        const rootSql = JSON_ROOT_SQL[root];
        const any = (cond.values ?? []).map(
          (v) => `(extra -> ${rootSql}) @> ${params.add(JSON.stringify(nested(rest, v)))}::jsonb`,
        );
        const match = `(extra ? ${rootSql} and (${any.join(' or ')}))`;
        return cond.op === 'eq' ? match : `not ${match}`;
      }
      case 'has_key':
      case 'key_missing':
        return `(extra #> ${params.add(path)}::text[]) is ${cond.op === 'has_key' ? 'not ' : ''}null`;
      case 'has_value':
        return `coalesce(extra #>> ${params.add(path)}::text[], '') <> ''`;
      case 'value_missing':
        return `coalesce(extra #>> ${params.add(path)}::text[], '') = ''`;
    }
  }
  const { field } = target;
  const col = field.column;
  switch (cond.op) {
    case 'eq':
    case 'not': {
      const values = cond.values ?? [];
      const prefixes = field.kind === 'prefix' ? values.filter((v) => v.endsWith('*')) : [];
      const exact = values.filter((v) => !prefixes.includes(v)).map((v) => typed(field, cond.key, v));
      const parts = prefixes.map((p) => `${col} like ${params.add(`${likeEscape(p.slice(0, -1))}%`)}`);
      if (exact.length === 1) parts.push(`${col} = ${params.add(exact[0])}::${SCALAR_TYPE[field.kind]}`);
      else if (exact.length > 1) parts.push(`${col} = any(${params.add(exact)}::${ARRAY_TYPE[field.kind]})`);
      const match = `(${parts.join(' or ')})`;
      return cond.op === 'eq' ? match : `(${col} is null or not ${match})`;
    }
    case 'has_key':
      return `${col} is not null`;
    case 'key_missing':
      return `${col} is null`;
    case 'has_value':
      return `coalesce(${col}::text, '') <> ''`;
    case 'value_missing':
      return `coalesce(${col}::text, '') = ''`;
  }
}

/** A projection with its `:utc_offset` token bound as a parameter (the offset is a value). */
export function bindOffset(sql: string, params: SqlParams, utcOffsetS = 0): string {
  return sql.includes(UTC_OFFSET_TOKEN)
    ? sql.replaceAll(UTC_OFFSET_TOKEN, `${params.add(Math.trunc(utcOffsetS))}::int`)
    : sql;
}

/** The WHERE clause of a search (no keyset). */
function whereSql(search: CdrSearch, params: SqlParams): string {
  const parts = [
    `account_id = ${params.account(search.accountId)}::text`,
    `time_start >= ${params.add(search.from)}::timestamptz`,
    `time_start < ${params.add(search.to)}::timestamptz`,
  ];
  for (const cond of search.conditions) parts.push(conditionSql(cond, params));
  return parts.join(' and ');
}

export const KEYSET_COLUMNS = `to_char(time_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as k_t,
  call_id as k_c, attempt as k_a, kind as k_k`;

/** A page (or, without a limit, all) of rows: `select <projection> … order by the keyset`. */
export function buildSearch(search: CdrSearch, projection: string, params = new SqlParams()): BuiltQuery {
  const select = bindOffset(projection, params, search.utcOffsetS);
  const where = [whereSql(search, params)];
  if (search.startKey) where.push(keysetSql(search, search.startKey, params));
  const limit = search.limit ? ` limit ${params.add(search.limit)}::int` : '';
  return {
    text: `select ${select} from cdrs where ${where.join(' and ')} ${orderBy(search)}${limit}`,
    values: params.values,
  };
}

/** Rows at or after the key, in the search's direction. */
export function keysetSql(search: CdrSearch, k: Keyset, params: SqlParams): string {
  return (
    `(time_start, call_id, attempt, kind) ${search.ascending ? '>=' : '<='} (${params.add(k.t)}::timestamptz, ` +
    `${params.add(k.c)}::text, ${params.add(k.a)}::int, ${params.add(k.k)}::text)`
  );
}

export function orderBy(search: CdrSearch): string {
  const dir = search.ascending ? 'asc' : 'desc';
  return `order by time_start ${dir}, call_id ${dir}, attempt ${dir}, kind ${dir}`;
}

export function buildAggregate(
  search: CdrSearch,
  select: string,
  groupBy?: string,
  params = new SqlParams(),
): BuiltQuery {
  const projection = bindOffset(select, params, search.utcOffsetS);
  const where = whereSql(search, params);
  return {
    text: `select ${projection} from cdrs where ${where}${groupBy ? ` group by ${groupBy} order by ${groupBy}` : ''}`,
    values: params.values,
  };
}
