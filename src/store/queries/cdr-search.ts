// Searching an account's CDRs: a time range, filters, keyset paging. Newest first by default, over
// both directions and across month partitions, ordered by (time_start, call_id, attempt, kind),
// the order of the `cdrs_dedupe` index, so a page is an index range scan whatever the depth.
import type pg from 'pg';
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
  to: Date; // inclusive
  conditions: CdrCondition[];
  ascending?: boolean;
  utcOffsetS?: number;
  startKey?: Keyset;
  limit?: number;
}

export interface BuiltQuery {
  text: string;
  values: unknown[];
}

class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
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

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function conditionSql(cond: CdrCondition, params: Params): string {
  const target = resolve(cond.key);
  if ('jsonPath' in target) {
    const path = target.jsonPath;
    switch (cond.op) {
      case 'eq':
      case 'not': {
        // `extra ? root` and `extra -> root` match the partial GIN index on that object.
        const [root, ...rest] = path;
        const any = (cond.values ?? []).map(
          (v) => `(extra -> '${root}') @> ${params.add(JSON.stringify(nested(rest, v)))}::jsonb`,
        );
        const match = `(extra ? '${root}' and (${any.join(' or ')}))`;
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
      if (exact.length === 1) parts.push(`${col} = ${params.add(exact[0])}`);
      else if (exact.length > 1) parts.push(`${col} = any(${params.add(exact)})`);
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

/** Writes the offset (a validated integer, so safe as a literal) where the SQL asks for it. */
export function withOffset(sql: string, utcOffsetS = 0): string {
  return sql.replaceAll(UTC_OFFSET_TOKEN, String(Math.trunc(utcOffsetS)));
}

/** The WHERE clause of a search (no keyset); $1 is the account. */
function whereSql(search: CdrSearch, params: Params): string {
  const parts = [
    'account_id = $1::text',
    `time_start >= ${params.add(search.from)}::timestamptz`,
    `time_start <= ${params.add(search.to)}::timestamptz`,
  ];
  for (const cond of search.conditions) parts.push(conditionSql(cond, params));
  return parts.join(' and ');
}

export const KEYSET_COLUMNS = `to_char(time_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as k_t,
  call_id as k_c, attempt as k_a, kind as k_k`;

/** A page (or, without a limit, all) of rows: `select <projection> … order by the keyset`. */
export function buildSearch(search: CdrSearch, projection: string): BuiltQuery {
  const params = new Params();
  params.add(search.accountId);
  const where = [whereSql(search, params)];
  const dir = search.ascending ? 'asc' : 'desc';
  if (search.startKey) {
    const k = search.startKey;
    where.push(
      `(time_start, call_id, attempt, kind) ${search.ascending ? '>=' : '<='} (${params.add(k.t)}::timestamptz, ` +
        `${params.add(k.c)}::text, ${params.add(k.a)}::int, ${params.add(k.k)}::text)`,
    );
  }
  const limit = search.limit ? ` limit ${params.add(search.limit)}::int` : '';
  return {
    text: `select ${withOffset(projection, search.utcOffsetS)} from cdrs where ${where.join(' and ')}
      order by time_start ${dir}, call_id ${dir}, attempt ${dir}, kind ${dir}${limit}`,
    values: params.values,
  };
}

export function buildAggregate(search: CdrSearch, select: string, groupBy?: string): BuiltQuery {
  const params = new Params();
  params.add(search.accountId);
  const where = whereSql(search, params);
  return {
    text: `select ${withOffset(select, search.utcOffsetS)} from cdrs where ${where}${groupBy ? ` group by ${groupBy} order by ${groupBy}` : ''}`,
    values: params.values,
  };
}

/**
 * The same query with every parameter written as an escaped literal, for COPY (which takes no
 * bind parameters). Literals go through the driver's escapeLiteral; arrays become ARRAY[…].
 */
export function inlineParams(query: BuiltQuery, client: pg.ClientBase): string {
  const literal = (v: unknown): string => {
    if (Array.isArray(v)) {
      const numeric = v.every((x) => typeof x === 'number');
      return `ARRAY[${v.map(literal).join(', ')}]${numeric ? '' : '::text[]'}`;
    }
    if (v instanceof Date) return client.escapeLiteral(v.toISOString());
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    return client.escapeLiteral(String(v));
  };
  // Highest numbers first, so $1 never eats the start of $12.
  let text = query.text;
  for (let i = query.values.length; i >= 1; i--) {
    text = text.replaceAll(new RegExp(`\\$${i}(?!\\d)`, 'g'), literal(query.values[i - 1]));
  }
  return text;
}
