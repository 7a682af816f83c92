// The Kazoo view of a stored CDR: how each Kazoo list field is computed from `cdrs`, and which
// Kazoo keys can be filtered on (and how). docs/fields.md maps the same fields in prose.
import { MASK_DIGITS, maskedIf } from '../store/queries/lifecycle.js';

/** Unix seconds + this = Gregorian seconds (seconds since 0001-01-01 UTC). */
export const GREGORIAN_OFFSET = 62167219200;

/** The moment Kazoo's `timestamp` and date fields describe: the call's start. cb_cdrs's
 * normalize_cdr prints the stored timestamp (the end) minus duration_seconds. Whole seconds, cut
 * as to_char cuts them, so `timestamp` and `datetime` name the same second. */
const WHEN = 'time_start';
const EPOCH = `floor(extract(epoch from ${WHEN}))::bigint`;
/** Local time for `utc_offset` (seconds east of UTC). `offset` is the SQL that reads it: a
 * placeholder the query builder added, never the value. */
const local = (offset: string) => `((${WHEN} at time zone 'UTC') + make_interval(secs => ${offset}))`;

/**
 * A Kazoo id names one row of the dedupe key (kind, time_start, call_id, attempt):
 * `YYYYMM-<call_id>=<in|out><attempt>-<DD>T<HHMMSS>[.<microseconds>]`, the start in UTC (the
 * fraction only when it is not zero). `=` is not in RFC 3261's `word`, so a SIP call id never
 * holds one; and the suffix holds none, so the last `=` ends the call id even when a call id from
 * another source does hold one. docs/decisions.md, "Kazoo ids".
 */
export const KAZOO_ID = `to_char(time_start at time zone 'UTC', 'YYYYMM') || '-' || call_id || '='
  || case kind when 'cdr_in' then 'in' else 'out' end || attempt
  || to_char(time_start at time zone 'UTC', '-DD"T"HH24MISS')
  || case when to_char(time_start at time zone 'UTC', 'US') <> '000000'
     then to_char(time_start at time zone 'UTC', '.US') else '' end`;

/** The Kazoo id KAZOO_ID gives the row of this key, without reading it back; `timeStart` is
 * ISO 8601 UTC, with up to six fraction digits (a MicroDate's toISOString()). */
export function kazooId(key: KazooIdKey): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/.exec(key.timeStart);
  if (!m) throw new Error(`not an ISO 8601 UTC time: ${key.timeStart}`);
  const [, year, month, day, hour, minute, second, fraction = ''] = m;
  const micros = fraction.padEnd(6, '0');
  const dir = key.kind === 'cdr_in' ? 'in' : 'out';
  return (
    `${year}${month}-${key.callId}=${dir}${key.attempt}-${day}T${hour}${minute}${second}` +
    (micros === '000000' ? '' : `.${micros}`)
  );
}

/** What a Kazoo id names: the dedupe key of one row. `timeStart` is ISO 8601 UTC with
 * microseconds (a JavaScript Date would drop them). */
export interface KazooIdKey {
  kind: 'cdr_in' | 'cdr_out';
  timeStart: string;
  callId: string;
  attempt: number;
}

const ID_PATTERN = /^(\d{4})(\d{2})-(.+)=(in|out)([1-9]\d{0,9})-(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{6}))?$/;

/** The key a Kazoo id names, or undefined unless the id is exactly as KAZOO_ID writes it. */
export function parseKazooId(id: string): KazooIdKey | undefined {
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const [, year, month, callId, dir, attempt, day, hour, minute, second, micros] = m;
  // KAZOO_ID writes a fraction only when it is not zero: one row, one spelling.
  if (micros === '000000' || Number(attempt) > 2 ** 31 - 1) return undefined;
  const whole = `${year}-${month}-${day}T${hour}:${minute}:${second}`;
  // A day its month lacks (30 February) is invalid or rolls over; a real one reads back as written.
  const date = new Date(`${whole}Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 19) !== whole) return undefined;
  return {
    kind: dir === 'in' ? 'cdr_in' : 'cdr_out',
    timeStart: `${whole}.${micros ?? '000000'}Z`,
    callId,
    attempt: Number(attempt),
  };
}

/**
 * FreeSWITCH's name for the Q.850 cause of a final SIP response: mod_sofia's
 * sofia_glue_sip_cause_to_freeswitch (RFC 4497 section 8.4.4), the names Kazoo prints in
 * `hangup_cause`. A CDR without a stored cause (a DIDWW file, the generator) gets it from its SIP
 * `disconnect_code`. docs/fields.md prints the same table.
 */
export const SIP_HANGUP_CAUSES: Record<string, readonly number[]> = {
  NORMAL_CLEARING: [200],
  CALL_REJECTED: [401, 402, 403, 407, 603],
  UNALLOCATED_NUMBER: [404],
  NO_ROUTE_DESTINATION: [485, 604],
  RECOVERY_ON_TIMER_EXPIRE: [408, 504],
  NUMBER_CHANGED: [410],
  INTERWORKING: [413, 414, 416, 420, 421, 423, 505, 513],
  NO_USER_RESPONSE: [480],
  NORMAL_TEMPORARY_FAILURE: [400, 481, 500, 503],
  USER_BUSY: [486, 600],
  INVALID_NUMBER_FORMAT: [484],
  INCOMPATIBLE_DESTINATION: [488, 606],
  NETWORK_OUT_OF_ORDER: [502],
  SERVICE_UNAVAILABLE: [405],
  SERVICE_NOT_IMPLEMENTED: [406, 415, 501],
  EXCHANGE_ROUTING_ERROR: [482, 483],
  ORIGINATOR_CANCEL: [487],
};
/** Any other SIP response code (100–699): FreeSWITCH's default. */
export const OTHER_SIP_CAUSE = 'NORMAL_UNSPECIFIED';

/** The cause printed for a SIP code, as the SQL below computes it (for tests and docs). */
export function sipHangupCause(code: string | null): string | null {
  if (code === null) return null;
  const hit = Object.entries(SIP_HANGUP_CAUSES).find(([, codes]) => codes.some((c) => String(c) === code));
  return hit ? hit[0] : /^[1-6][0-9]{2}$/.test(code) ? OTHER_SIP_CAUSE : null;
}

// The table is written into SQL text: only codes and upper-case names, never anything to quote.
for (const [cause, codes] of Object.entries(SIP_HANGUP_CAUSES)) {
  if (!/^[A-Z_]+$/.test(cause) || !codes.every((c) => Number.isInteger(c) && c >= 100 && c <= 699))
    throw new Error(`SIP_HANGUP_CAUSES: bad entry ${cause}`);
}
const CAUSE_ARMS = Object.entries(SIP_HANGUP_CAUSES)
  .flatMap(([cause, codes]) => codes.map((code) => `when '${code}' then '${cause}'`))
  .join(' ');

/**
 * `hangup_cause` as printed and filtered: the stored cause, else the one of the SIP code. One
 * line, written the same in migration 000008's index: the filter is planned on that index only
 * while the two expressions match (test/api/kazoo-row-shape.test.ts compares them).
 */
export const HANGUP_CAUSE = `coalesce(hangup_cause, case disconnect_code ${CAUSE_ARMS} else case when disconnect_code ~ '^[1-6][0-9]{2}$' then '${OTHER_SIP_CAUSE}' end end)`;

/** A column holding the caller's number (or a name or URI that may hold it), masked for display
 * when the account masks (MASK_DIGITS, `cdrex accounts mask`). */
const masked = (sql: string) => maskedIf(MASK_DIGITS, `(${sql})::text`);

/**
 * Kazoo 4.3's list columns, in order, as SQL over `cdrs`: NULL where the CDR has no value. Types
 * as cb_cdrs's col_* functions give them: strings, except duration_seconds and billing_seconds
 * (kzd_cdrs reads them as integers) and cdrex's own `imported` (a boolean). Money as Kazoo prints
 * it: `cost` in units (1 USD = 10000, kapps_call_util:call_cost), `rate` in dollars
 * (kz_currency:units_to_dollars of the units, cut to whole units, printed as an Erlang float).
 */
export function listFields(offset: string): [string, string][] {
  return [
    ['id', KAZOO_ID],
    ['call_id', 'call_id'],
    ['caller_id_number', masked('source_number')],
    ['caller_id_name', masked('source_name')],
    ['callee_id_number', 'destination'],
    ['callee_id_name', 'callee_name'],
    ['duration_seconds', 'duration_s'],
    ['billing_seconds', "coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0)"],
    ['timestamp', `(${EPOCH} + ${GREGORIAN_OFFSET})::text`],
    ['hangup_cause', HANGUP_CAUSE],
    ['other_leg_call_id', 'other_leg_call_id'],
    ['owner_id', 'owner_id'],
    ['to', 'to_uri'],
    ['from', masked('from_uri')],
    ['direction', "case kind when 'cdr_in' then 'inbound' else 'outbound' end"],
    ['request', "extra->>'request'"],
    ['authorizing_id', 'authorizing_id'],
    ['cost', 'round(coalesce(cost, 0) * 10000)::bigint::text'],
    ['dialed_number', "coalesce(extra->>'dialed_number', destination)"],
    ['calling_from', masked("coalesce(extra->>'calling_from', source_number)")],
    // utc_offset shifts `datetime` only: col_pretty_print is the one column that reads it.
    ['datetime', `to_char(${local(offset)}, 'YYYY-MM-DD HH24:MI:SS')`],
    ['unix_timestamp', `${EPOCH}::text`],
    ['rfc_1036', `to_char(${WHEN} at time zone 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT'`],
    ['iso_8601', `to_char(${WHEN} at time zone 'UTC', 'YYYY-MM-DD')`],
    ['iso_8601_combined', `to_char(${WHEN} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`],
    ['call_type', "coalesce(call_type, extra #>> '{custom_channel_vars,account_billing}')"],
    // An Erlang float: shortest digits, at least one after the point ("0.0", "1.0", "0.0125").
    ['rate', "regexp_replace(trim_scale(trunc(coalesce(rate, 0), 4))::text, '^(-?[0-9]+)$', '\\1.0')"],
    ['rate_name', "coalesce(extra->>'rate_name', extra #>> '{custom_channel_vars,rate_name}')"],
    ['bridge_id', "coalesce(extra->>'bridge_id', extra #>> '{custom_channel_vars,bridge_id}')"],
    ['recording_url', "extra->>'recording_url'"],
    ['media_server', "extra->>'media_server'"],
    ['call_priority', "coalesce(extra->>'call_priority', extra #>> '{custom_channel_vars,call_priority}')"],
    ['interaction_id', 'interaction_id'],
    ['imported', 'imported'],
  ];
}

/** List columns Kazoo prints as JSON integers ("" when absent); `imported` is a boolean; the rest
 * are strings. */
export const INTEGER_FIELDS: ReadonlySet<string> = new Set(['duration_seconds', 'billing_seconds']);

/** Detail adds these (seed 003's second table) where the row has them. */
export const DETAIL_FIELDS: [string, string][] = [
  ['call_direction', "case kind when 'cdr_in' then 'inbound' else 'outbound' end"],
  ['to_uri', 'to_uri'],
  ['from_uri', masked('from_uri')],
  ['sip_network_ip', 'network_ip'],
  ['remote_media_ip', 'media_ip'],
  ['hangup_code', 'disconnect_code'],
  ['did_number', 'did_number'],
  ['status', 'status'],
  ['trunk_name', 'trunk_name'],
  // cdrex's own, from DIDWW files (`Response`/`Disconnect Reason`, `Disconnect Initiator`): the
  // SIP reason phrase and who hung up, which the portal's drawer shows.
  ['disconnect_reason', 'disconnect_reason'],
  ['disconnect_initiator', 'disconnect_initiator'],
  ['voice_out_trunk_id', 'voice_out_trunk_id'],
];

export type FilterKind = 'text' | 'prefix' | 'integer' | 'boolean' | 'direction';

export interface FilterField {
  column: string;
  kind: FilterKind;
  /** Backed by an index leading with account_id (docs/api-kazoo.md lists these). */
  indexed: boolean;
}

/** Keys accepted by filter_{key}, filter_not_{key}, has_key, key_missing, has_value, value_missing. */
export const FILTER_FIELDS: Record<string, FilterField> = {
  call_id: { column: 'call_id', kind: 'text', indexed: true },
  caller_id_number: { column: 'source_number', kind: 'prefix', indexed: true },
  callee_id_number: { column: 'destination', kind: 'prefix', indexed: true },
  dialed_number: { column: 'destination', kind: 'prefix', indexed: true },
  caller_id_name: { column: 'source_name', kind: 'text', indexed: false },
  callee_id_name: { column: 'callee_name', kind: 'text', indexed: false },
  owner_id: { column: 'owner_id', kind: 'text', indexed: true },
  authorizing_id: { column: 'authorizing_id', kind: 'text', indexed: true },
  from: { column: 'from_uri', kind: 'text', indexed: true },
  from_uri: { column: 'from_uri', kind: 'text', indexed: true },
  to: { column: 'to_uri', kind: 'text', indexed: true },
  to_uri: { column: 'to_uri', kind: 'text', indexed: true },
  sip_network_ip: { column: 'network_ip', kind: 'text', indexed: true },
  remote_media_ip: { column: 'media_ip', kind: 'text', indexed: true },
  interaction_id: { column: 'interaction_id', kind: 'text', indexed: true },
  // What is printed, so a filter finds what a row shows (the expression index of migration 000008).
  hangup_cause: { column: `(${HANGUP_CAUSE})`, kind: 'text', indexed: true },
  other_leg_call_id: { column: 'other_leg_call_id', kind: 'text', indexed: false },
  did_number: { column: 'did_number', kind: 'prefix', indexed: false },
  direction: { column: 'kind', kind: 'direction', indexed: false },
  call_direction: { column: 'kind', kind: 'direction', indexed: false },
  hangup_code: { column: 'disconnect_code', kind: 'text', indexed: false },
  call_type: { column: 'call_type', kind: 'text', indexed: false },
  duration_seconds: { column: 'duration_s', kind: 'integer', indexed: false },
  billing_seconds: { column: 'billing_s', kind: 'integer', indexed: false },
  imported: { column: 'imported', kind: 'boolean', indexed: false },
  status: { column: 'status', kind: 'text', indexed: false },
  trunk_name: { column: 'trunk_name', kind: 'text', indexed: false },
};

/** Nested keys reached with `extra @> {...}` (GIN jsonb_path_ops). */
export const JSON_FILTER_ROOTS = ['custom_channel_vars', 'custom_sip_headers'];
