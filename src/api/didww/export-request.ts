// Translates a DIDWW create body into an ExportRequest, collecting one problem per bad attribute
// (DIDWW answers them all at once in a 422). Business rules (the availability window, callback
// targets) are checked by the export service, not here.
import { ValidationError, type FieldProblem } from '../../errors.js';
import type { ExportRequest } from '../../export/exports-service.js';
import type { CdrKind } from '../../store/queries/cdrs.js';
import type { ExportCollection } from '../../store/queries/exports.js';
import { isCurrent } from './versions.js';

const BLANK = "can't be blank";
const NOT_IN_LIST = 'is not included in the list';
const INVALID = 'is invalid';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// DIDWW's own 2026-04-16 example sends ISO 8601 with `Z` (`2025-12-01T00:00:00Z`); its SDKs send
// `YYYY-MM-DD HH:MM:SS` (UTC). Both are read, and an offset (`+02:00`, `+0200`, `-05`) is converted
// to UTC. Fractions of a second are dropped: DIDWW ranges are whole seconds.
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-](\d{2})(?::?(\d{2}))?)?$/i;

type Attrs = Record<string, unknown>;

const isObject = (v: unknown): v is Attrs => typeof v === 'object' && v !== null && !Array.isArray(v);
const isBlank = (v: unknown) => v === undefined || v === null || v === '';

/** Accepts 12, "12" and "012"-style strings; undefined when not a whole number. */
function wholeNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\d{1,9}$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

function parseDateTime(v: unknown): Date | undefined {
  if (typeof v !== 'string') return undefined;
  const m = DATE_TIME.exec(v.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const local = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  const roundTrips =
    local.getUTCFullYear() === y &&
    local.getUTCMonth() === mo - 1 &&
    local.getUTCDate() === d &&
    h < 24 &&
    mi < 60 &&
    s < 60;
  const [zone, offsetHours, offsetMinutes] = [m[7], Number(m[8] ?? 0), Number(m[9] ?? 0)];
  if (!roundTrips || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offsetMs = (offsetHours * 60 + offsetMinutes) * 60_000 * (zone?.startsWith('-') ? -1 : 1);
  return new Date(local.getTime() - offsetMs);
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, the form DIDWW returns `from` and `to` in whatever was sent. */
function utcDateTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

function textValue(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.trim() !== '' && v.length <= 64) return v.trim();
  return undefined;
}

interface Range {
  from: Date;
  to: Date;
  rangeField: string;
}

function monthRange(filters: Attrs, allowDay: boolean, problems: FieldProblem[]): Range | undefined {
  const year = wholeNumber(filters.year);
  const month = wholeNumber(filters.month);
  if (isBlank(filters.year)) problems.push({ field: 'filters.year', title: BLANK });
  else if (year === undefined || year < 1970 || year > 9999)
    problems.push({ field: 'filters.year', title: INVALID });
  if (isBlank(filters.month)) problems.push({ field: 'filters.month', title: BLANK });
  else if (month === undefined || month < 1 || month > 12)
    problems.push({ field: 'filters.month', title: NOT_IN_LIST });
  if (year === undefined || month === undefined || month < 1 || month > 12 || year < 1970 || year > 9999)
    return undefined;
  if (allowDay && !isBlank(filters.day)) {
    const day = wholeNumber(filters.day);
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    if (day === undefined || day < 1 || day > daysInMonth) {
      problems.push({ field: 'filters.day', title: INVALID });
      return undefined;
    }
    const from = new Date(Date.UTC(year, month - 1, day));
    return { from, to: new Date(Date.UTC(year, month - 1, day + 1)), rangeField: 'filters.day' };
  }
  return {
    from: new Date(Date.UTC(year, month - 1, 1)),
    to: new Date(Date.UTC(year, month, 1)),
    rangeField: 'filters.month',
  };
}

function timeRange(filters: Attrs, problems: FieldProblem[]): Range | undefined {
  const from = parseDateTime(filters.from);
  const to = parseDateTime(filters.to);
  for (const [field, value, parsed] of [
    ['filters.from', filters.from, from],
    ['filters.to', filters.to, to],
  ] as const) {
    if (isBlank(value)) problems.push({ field, title: BLANK });
    else if (!parsed) problems.push({ field, title: INVALID });
  }
  if (!from || !to) return undefined;
  if (from >= to) {
    problems.push({ field: 'filters.to', title: INVALID });
    return undefined;
  }
  return { from, to, rangeField: 'filters.from' };
}

function trunkId(filters: Attrs): unknown {
  const nested = isObject(filters.voice_out_trunk) ? filters.voice_out_trunk.id : undefined;
  return filters['voice_out_trunk.id'] ?? filters.voice_out_trunk_id ?? nested;
}

function callback(attrs: Attrs, problems: FieldProblem[]) {
  let callbackUrl: string | undefined;
  let callbackMethod: 'GET' | 'POST' | undefined;
  if (!isBlank(attrs.callback_url)) {
    if (typeof attrs.callback_url === 'string' && attrs.callback_url.length <= 2048)
      callbackUrl = attrs.callback_url;
    else problems.push({ field: 'callback_url', title: INVALID });
  }
  if (!isBlank(attrs.callback_method)) {
    const method = typeof attrs.callback_method === 'string' ? attrs.callback_method.toUpperCase() : '';
    if (method !== 'GET' && method !== 'POST')
      problems.push({ field: 'callback_method', title: NOT_IN_LIST });
    else if (isBlank(attrs.callback_url)) problems.push({ field: 'callback_method', title: INVALID });
    else callbackMethod = method;
  }
  return { callbackUrl, callbackMethod };
}

export function externalReference(attrs: Attrs, problems: FieldProblem[]): string | null | undefined {
  const value = attrs.external_reference_id;
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value !== 'string') problems.push({ field: 'external_reference_id', title: INVALID });
  else if (value.length > 100)
    problems.push({ field: 'external_reference_id', title: 'is too long (maximum is 100 characters)' });
  else return value;
  return undefined;
}

/** The `data` member of a JSON:API body, checked for its type; problems are collected. */
export function resourceAttributes(body: unknown, type: string, problems: FieldProblem[]): Attrs {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) {
    problems.push({ field: 'data', title: BLANK });
    return {};
  }
  if (data.type !== type) problems.push({ field: 'type', title: INVALID });
  return isObject(data.attributes) ? data.attributes : {};
}

// Kept whole on purpose: one pass over the attributes that collects every problem for a single
// 422, as DIDWW answers.
export function parseCreateExport(body: unknown, version: string, dialect: ExportCollection): ExportRequest {
  const problems: FieldProblem[] = [];
  const attrs = resourceAttributes(body, dialect, problems);
  let exportType: CdrKind = 'cdr_in';
  if (dialect === 'exports') {
    if (isBlank(attrs.export_type)) problems.push({ field: 'export_type', title: BLANK });
    else if (attrs.export_type !== 'cdr_in' && attrs.export_type !== 'cdr_out')
      problems.push({ field: 'export_type', title: NOT_IN_LIST });
    else exportType = attrs.export_type;
  }
  const filters = attrs.filters;
  if (!isObject(filters)) {
    problems.push({ field: 'filters', title: BLANK });
    throw new ValidationError(problems);
  }
  const current = isCurrent(version) && dialect === 'exports';
  const byTime = current && (filters.from !== undefined || filters.to !== undefined);
  const range = byTime
    ? timeRange(filters, problems)
    : monthRange(filters, exportType === 'cdr_out', problems);

  let didNumber: string | undefined;
  let voiceOutTrunkId: string | undefined;
  if (exportType === 'cdr_in' && !isBlank(filters.did_number)) {
    didNumber = textValue(filters.did_number);
    if (!didNumber) problems.push({ field: 'filters.did_number', title: INVALID });
  }
  if (exportType === 'cdr_out') {
    const trunk = trunkId(filters);
    if (isBlank(trunk)) {
      if (!current) problems.push({ field: 'filters.voice_out_trunk.id', title: BLANK });
    } else if (typeof trunk !== 'string' || !UUID.test(trunk)) {
      problems.push({ field: 'filters.voice_out_trunk.id', title: INVALID });
    } else voiceOutTrunkId = trunk.toLowerCase();
  }
  const { callbackUrl, callbackMethod } = dialect === 'exports' ? callback(attrs, problems) : {};
  const externalReferenceId = dialect === 'exports' ? externalReference(attrs, problems) : undefined;
  if (problems.length > 0 || !range) throw new ValidationError(problems);

  // Keep the filters as the client understood them, for serialising them back.
  const kept: Record<string, unknown> = byTime
    ? { from: utcDateTime(range.from), to: utcDateTime(range.to) }
    : {
        year: filters.year,
        month: filters.month,
        ...(filters.day !== undefined && exportType === 'cdr_out' ? { day: filters.day } : {}),
      };
  if (didNumber) kept.did_number = didNumber;
  if (voiceOutTrunkId) kept['voice_out_trunk.id'] = voiceOutTrunkId;
  return {
    dialect,
    exportType,
    from: range.from,
    to: range.to,
    rangeField: range.rangeField,
    filters: kept,
    didNumber,
    voiceOutTrunkId,
    callbackUrl,
    callbackMethod,
    externalReferenceId: externalReferenceId ?? undefined,
  };
}
