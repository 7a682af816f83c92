// Maps the body FreeSWITCH's mod_json_cdr posts at hangup to a record. Times come from the
// `*_uepoch` variables (UTC microseconds), never `*_stamp` (the switch's local time).
import type { CdrRecord } from './records.js';

type Doc = Record<string, unknown>;
const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface FreeswitchOptions {
  /** Channel variable naming the direction (inbound/outbound), when set on the leg. */
  directionVar: string;
  /** Channel variable holding the voice out trunk id. */
  trunkVar: string;
}

function str(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v !== '' ? v : null;
}

function micros(v: unknown): Date | null {
  const s = str(v);
  if (!s || !/^\d{1,17}$/.test(s) || s === '0') return null;
  return new Date(Math.floor(Number(s) / 1000));
}

function seconds(v: unknown): number {
  const s = str(v);
  return s && /^\d{1,9}$/.test(s) ? Number(s) : 0;
}

/** Older FreeSWITCH sends `callflow` as an object (a parser keeps the last); newer as an array. */
function callerProfile(doc: Doc): Doc {
  const flow = Array.isArray(doc.callflow) ? doc.callflow[0] : doc.callflow;
  return isObject(flow) && isObject(flow.caller_profile) ? flow.caller_profile : {};
}

export function freeswitchToRecord(raw: unknown, options: FreeswitchOptions): CdrRecord | string {
  if (!isObject(raw) || !isObject(raw.variables)) return 'a mod_json_cdr body with "variables" is required';
  const v = raw.variables;
  const callId = str(v.uuid) ?? str(callerProfile(raw).uuid);
  if (!callId) return 'variables.uuid is required';
  const start = micros(v.start_uepoch);
  if (!start) return 'variables.start_uepoch is required (microseconds since the Unix epoch)';
  const end = micros(v.end_uepoch);
  const answer = micros(v.answer_uepoch);
  const profile = callerProfile(raw);
  const channel = isObject(raw.channel_data) ? raw.channel_data : {};
  const direction = str(v[options.directionVar]) ?? str(channel.direction) ?? str(v.direction) ?? 'inbound';
  if (direction !== 'inbound' && direction !== 'outbound')
    return `direction "${direction}" is not inbound or outbound`;
  const inbound = direction === 'inbound';
  const billsec = seconds(v.billsec);
  const callee = str(profile.destination_number) ?? str(v.destination_number) ?? str(v.sip_to_user);
  return {
    kind: inbound ? 'cdr_in' : 'cdr_out',
    time_start: start,
    time_connect: answer,
    time_end: end,
    call_id: callId,
    attempt: 1,
    status: billsec > 0 ? 'Success' : 'Failed',
    source_number:
      str(v.effective_caller_id_number) ??
      str(profile.caller_id_number) ??
      str(v.caller_id_number) ??
      str(v.sip_from_user),
    source_name: str(v.effective_caller_id_name) ?? str(profile.caller_id_name) ?? str(v.caller_id_name),
    destination: callee,
    callee_name: str(v.callee_id_name),
    did_number: inbound ? callee : null,
    duration_s: seconds(v.duration),
    billing_s: billsec,
    disconnect_code: str(v.sip_term_status) ?? str(v.hangup_cause_q850),
    hangup_cause: str(v.hangup_cause),
    other_leg_call_id: str(v.bridge_uuid) ?? str(v.signal_bond) ?? str(v.last_bridge_to),
    owner_id: str(v.owner_id) ?? str(v.ecallmgr_Owner_ID),
    authorizing_id: str(v.authorizing_id) ?? str(v.ecallmgr_Authorizing_ID),
    from_uri: str(v.sip_from_uri),
    to_uri: str(v.sip_to_uri),
    network_ip: str(v.sip_network_ip),
    media_ip: str(v.remote_media_ip),
    interaction_id: str(v.interaction_id) ?? str(v.call_uuid) ?? callId,
    voice_out_trunk_id: inbound ? null : (str(v[options.trunkVar])?.toLowerCase() ?? null),
    trunk_name: str(v.sofia_profile_name),
    call_type: null,
    cost: null,
    rate: null,
    extra: raw,
  };
}
