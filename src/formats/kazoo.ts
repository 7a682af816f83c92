// The Kazoo view of a stored CDR: how each Kazoo list field is computed from `cdrs`, and which
// Kazoo keys can be filtered on (and how). docs/fields.md maps the same fields in prose.

/** Unix seconds + this = Gregorian seconds (seconds since 0001-01-01 UTC). */
export const GREGORIAN_OFFSET = 62167219200;

/** The moment Kazoo's `timestamp` and date fields describe: the end of the call. */
const WHEN = 'coalesce(time_end, time_start)';
/** Local time for `utc_offset` (seconds east of UTC): the query builder writes the validated
 * integer in place of the `:utc_offset` token. */
export const UTC_OFFSET_TOKEN = ':utc_offset';
const LOCAL = `((${WHEN} at time zone 'UTC') + make_interval(secs => ${UTC_OFFSET_TOKEN}))`;

export const KAZOO_ID = `to_char(time_start at time zone 'UTC', 'YYYYMM') || '-' || call_id
  || case when attempt > 1 then '-' || attempt else '' end`;

/** Kazoo 4.3's list columns, in order, as SQL over `cdrs`. */
export const LIST_FIELDS: [string, string][] = [
  ['id', KAZOO_ID],
  ['call_id', 'call_id'],
  ['caller_id_number', 'source_number'],
  ['caller_id_name', 'source_name'],
  ['callee_id_number', 'destination'],
  ['callee_id_name', 'callee_name'],
  ['duration_seconds', 'coalesce(duration_s, 0)'],
  ['billing_seconds', "coalesce(billing_s, case when status = 'Success' then duration_s else 0 end, 0)"],
  ['timestamp', `(extract(epoch from ${WHEN})::bigint + ${GREGORIAN_OFFSET})`],
  ['hangup_cause', 'hangup_cause'],
  ['other_leg_call_id', 'other_leg_call_id'],
  ['owner_id', 'owner_id'],
  ['to', 'to_uri'],
  ['from', 'from_uri'],
  ['direction', "case kind when 'cdr_in' then 'inbound' else 'outbound' end"],
  ['request', "extra->>'request'"],
  ['authorizing_id', 'authorizing_id'],
  ['cost', 'cost'],
  ['dialed_number', "coalesce(extra->>'dialed_number', destination)"],
  ['calling_from', "coalesce(extra->>'calling_from', source_number)"],
  ['datetime', `to_char(${LOCAL}, 'YYYY-MM-DD HH24:MI:SS')`],
  ['unix_timestamp', `extract(epoch from ${WHEN})::bigint`],
  ['rfc_1036', `to_char(${WHEN} at time zone 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS') || ' GMT'`],
  ['iso_8601', `to_char(${LOCAL}, 'YYYY-MM-DD')`],
  ['iso_8601_combined', `to_char(${WHEN} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`],
  ['call_type', 'call_type'],
  ['rate', 'rate'],
  ['rate_name', "extra->>'rate_name'"],
  ['bridge_id', "extra->>'bridge_id'"],
  ['recording_url', "extra->>'recording_url'"],
  ['media_server', "extra->>'media_server'"],
  ['call_priority', "extra->>'call_priority'"],
  ['interaction_id', 'interaction_id'],
  ['imported', 'imported'],
];

/** Detail adds these (seed 003's second table) where the row has them. */
export const DETAIL_FIELDS: [string, string][] = [
  ['call_direction', "case kind when 'cdr_in' then 'inbound' else 'outbound' end"],
  ['to_uri', 'to_uri'],
  ['from_uri', 'from_uri'],
  ['sip_network_ip', 'network_ip'],
  ['remote_media_ip', 'media_ip'],
  ['hangup_code', 'disconnect_code'],
  ['did_number', 'did_number'],
  ['status', 'status'],
  ['trunk_name', 'trunk_name'],
];

export type FilterKind = 'text' | 'prefix' | 'integer' | 'boolean' | 'direction';

export interface FilterField {
  column: string;
  kind: FilterKind;
  /** Backed by an index leading with account_id (the README lists these). */
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
  hangup_cause: { column: 'hangup_cause', kind: 'text', indexed: true },
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
