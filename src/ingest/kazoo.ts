// Maps a Kazoo CDR document (as Kazoo stores it, or as seed 003's upload sends it) to a record.
// Kazoo types nearly every field as a string, so numbers are accepted as numbers or numeric strings.
import { GREGORIAN_OFFSET } from '../formats/kazoo.js';
import { MicroDate } from './freeswitch.js';
import type { CdrRecord } from './records.js';

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A text field, cut to `max` UTF-16 units, but never between the two halves of a character
 * beyond the BMP (an emoji): half of one would be stored as U+FFFD. */
function text(v: unknown, max = 512): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string' || v === '') return null;
  if (v.length <= max) return v;
  const last = v.charCodeAt(max - 1);
  return v.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** A whole number given as a number or a numeric string; undefined when absent; NaN when bad. */
function whole(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return Number.isInteger(v) ? v : NaN;
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v.trim())) return Number(v.trim());
  return NaN;
}

function money(v: unknown): string | null | undefined {
  if (v === undefined || v === null || v === '') return null;
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : '';
  return /^-?\d{1,15}(\.\d{1,12})?(e-?\d+)?$/i.test(s) ? s : undefined;
}

/** Kazoo's money units (1 USD = 10000, as `kapps_call_util:call_cost` and the custom channel
 * variables keep them) as a dollar string, shifted exactly in decimal: no float rounding. */
export function unitsToDollars(units: string): string | undefined {
  const m = /^(-?)(\d{1,19})(?:\.(\d{1,8}))?$/.exec(units);
  if (!m) return undefined;
  const [, sign, whole, fraction = ''] = m;
  const digits = whole.padStart(5, '0');
  const dollars = `${digits.slice(0, -4).replace(/^0+(?=\d)/, '')}.${digits.slice(-4)}${fraction}`;
  return `${sign}${dollars}`;
}

/** The RTP address from an SDP body (`c=IN IP4 a.b.c.d`). */
export function sdpAddress(sdp: unknown): string | null {
  if (typeof sdp !== 'string') return null;
  return /^c=IN IP[46] ([0-9a-fA-F.:]+)/m.exec(sdp)?.[1] ?? null;
}

const MIN_GREGORIAN = GREGORIAN_OFFSET; // 1970
const MAX_GREGORIAN = GREGORIAN_OFFSET + 4102444800; // 2100
const MAX_UNIX_MICROS = 4102444800n * 1000000n; // 2100

/**
 * The start a record gives: Kazoo's own `channel_created_time` (Unix microseconds of the
 * channel's creation, in its CDR schema), every digit kept. Undefined when absent, a reason
 * when unusable. Without it the start is `timestamp − duration_seconds` (decisions.md, "Time").
 */
function givenStart(raw: Doc, end: Date): Date | string | undefined {
  const v = raw.channel_created_time;
  if (v === undefined || v === null || v === '') return undefined;
  const digits =
    typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : typeof v === 'string' ? v.trim() : '';
  if (!/^\d{1,16}$/.test(digits) || BigInt(digits) === 0n || BigInt(digits) > MAX_UNIX_MICROS)
    return 'channel_created_time must be Unix microseconds';
  const start = new MicroDate(BigInt(digits));
  return start > end ? 'channel_created_time is after timestamp' : start;
}

// Kept whole on purpose: one field-by-field mapping of a Kazoo document onto a record, read
// against docs/fields.md line by line.
export function kazooDocToRecord(raw: unknown): CdrRecord | string {
  if (!isObject(raw)) return 'a CDR must be a JSON object';
  const callId = text(raw.call_id, 255);
  if (!callId) return 'call_id is required';
  const gregorian = whole(raw.timestamp);
  const unix = whole(raw.unix_timestamp);
  let endUnix: number;
  if (gregorian !== undefined) {
    if (Number.isNaN(gregorian) || gregorian < MIN_GREGORIAN || gregorian > MAX_GREGORIAN) {
      return 'timestamp must be Gregorian seconds (seconds since year 1)';
    }
    endUnix = gregorian - GREGORIAN_OFFSET;
  } else if (unix !== undefined && !Number.isNaN(unix) && unix > 0 && unix < 4102444800) {
    endUnix = unix;
  } else {
    return 'timestamp is required (Gregorian seconds)';
  }
  const duration = whole(raw.duration_seconds) ?? 0;
  const billing = whole(raw.billing_seconds) ?? 0;
  if (Number.isNaN(duration) || duration < 0) return 'duration_seconds must be a whole number of seconds';
  if (Number.isNaN(billing) || billing < 0) return 'billing_seconds must be a whole number of seconds';
  const direction = raw.call_direction ?? raw.direction ?? 'inbound';
  if (direction !== 'inbound' && direction !== 'outbound') return 'direction must be inbound or outbound';
  const ccv = raw.custom_channel_vars ?? {};
  if (!isObject(ccv)) return 'custom_channel_vars must be an object';
  // Each amount in the unit Kazoo shows it in: a list row's `cost` and the custom channel
  // variables' `rate` in units (1 USD = 10000), a list row's `rate` in dollars; so a row read from
  // the list and uploaded again stores the same money. Stored in dollars, as DIDWW prints it.
  const costUnits = money(raw.cost);
  const cost = costUnits ? unitsToDollars(costUnits) : costUnits;
  const ccvRate = money(ccv.rate);
  const rate = raw.rate !== undefined ? money(raw.rate) : ccvRate ? unitsToDollars(ccvRate) : ccvRate;
  if (cost === undefined) return 'cost must be a number of units (1 USD = 10000)';
  if (rate === undefined) return 'rate must be a number (custom_channel_vars.rate in units)';

  const end = new Date(endUnix * 1000);
  const given = givenStart(raw, end);
  if (typeof given === 'string') return given;
  const start = given ?? new Date((endUnix - duration) * 1000);
  // Attempt 1 unless given (a retried call's attempts are distinct CDRs, as in DIDWW's exports).
  const attempt = whole(raw.attempt) ?? 1;
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > 2 ** 31 - 1)
    return 'attempt must be a whole number from 1';
  const inbound = direction === 'inbound';
  const callee = text(raw.callee_id_number) ?? text(raw.dialed_number);
  return {
    kind: inbound ? 'cdr_in' : 'cdr_out',
    time_start: start,
    time_connect: billing > 0 ? new Date((endUnix - billing) * 1000) : null,
    time_end: end,
    call_id: callId,
    attempt,
    status: billing > 0 ? 'Success' : 'Failed',
    source_number: text(raw.caller_id_number) ?? text(raw.calling_from),
    source_name: text(raw.caller_id_name),
    destination: callee,
    callee_name: text(raw.callee_id_name),
    did_number: inbound ? (text(raw.did_number) ?? callee) : null,
    duration_s: duration,
    billing_s: billing,
    disconnect_code: text(raw.hangup_code),
    hangup_cause: text(raw.hangup_cause),
    other_leg_call_id: text(raw.other_leg_call_id),
    owner_id: text(raw.owner_id) ?? text(ccv.owner_id),
    authorizing_id: text(raw.authorizing_id) ?? text(ccv.authorizing_id),
    from_uri: text(raw.from_uri) ?? text(raw.from),
    to_uri: text(raw.to_uri) ?? text(raw.to),
    network_ip: text(raw.sip_network_ip) ?? text(raw.network_ip),
    media_ip: text(raw.remote_media_ip) ?? sdpAddress(raw.remote_sdp),
    interaction_id: text(raw.interaction_id) ?? text(ccv.interaction_id),
    voice_out_trunk_id: inbound ? null : (text(raw.voice_out_trunk_id) ?? null),
    trunk_name: text(ccv.resource_id),
    call_type: text(raw.call_type),
    cost,
    rate,
    extra: raw,
  };
}
