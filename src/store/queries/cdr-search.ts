// Searching an account's CDRs: a time range, filters, keyset paging. Newest first by default, over
// both directions and across month partitions, ordered by (time_start, call_id, attempt, kind),
// the order of the `cdrs_dedupe` index, so a page is an index range scan whatever the depth.
import { ValidationError } from '../../errors.js';
import { FILTER_FIELDS, JSON_FILTER_ROOTS, type FilterField } from '../../formats/kazoo.js';
import { project, SqlParams, type BuiltQuery, type Projection } from '../sql.js';

export type ConditionOp = 'eq' | 'not' | 'has_key' | 'key_missing' | 'has_value' | 'value_missing';

export interface CdrCondition {
  op: ConditionOp;
  key: string;
  /** For eq/not: any-of. */
  values?: string[];
}

/** Where a page starts: the sort key of its first row. */
export interface Keyset {
  /** time_start, ISO 8601 with microseconds. */
  timeStart: string;
  callId: string;
  attempt: number;
  kind: string;
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

// Kept here too for src/export/export-file.ts and bench/run.ts, which import it from this module.
export { SqlParams, type BuiltQuery };

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
export function buildSearch(search: CdrSearch, projection: Projection, params = new SqlParams()): BuiltQuery {
  const select = project(projection, params, search.utcOffsetS);
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
    `(time_start, call_id, attempt, kind) ${search.ascending ? '>=' : '<='} (${params.add(k.timeStart)}::timestamptz, ` +
    `${params.add(k.callId)}::text, ${params.add(k.attempt)}::int, ${params.add(k.kind)}::text)`
  );
}

export function orderBy(search: CdrSearch): string {
  const dir = search.ascending ? 'asc' : 'desc';
  return `order by time_start ${dir}, call_id ${dir}, attempt ${dir}, kind ${dir}`;
}

export function buildAggregate(
  search: CdrSearch,
  select: Projection,
  groupBy?: string,
  params = new SqlParams(),
): BuiltQuery {
  const projection = project(select, params, search.utcOffsetS);
  const where = whereSql(search, params);
  return {
    text: `select ${projection} from cdrs where ${where}${groupBy ? ` group by ${groupBy} order by ${groupBy}` : ''}`,
    values: params.values,
  };
}
