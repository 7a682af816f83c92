// Maps the body FreeSWITCH's mod_json_cdr posts at hangup to a record, and loads it: the one code
// path of both `POST /ingest/freeswitch` and `cdrex import --type freeswitch` (replaying the files
// the module wrote to its err-log-dir). Times come from the `*_uepoch` variables (UTC
// microseconds, all six digits kept), never `*_stamp` (the switch's local time).
import type pg from 'pg';
import type { Config } from '../config.js';
import { loadRecords, type CdrRecord, type LoadResult } from './records.js';
import { switchCallFields } from './switch-call.js';
import type { IngestWindow } from './window.js';

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

/** A Date that keeps the microseconds a JS Date cannot hold. Records reach PostgreSQL through
 * toISOString() (COPY text) or toJSON() (a JSON batch), so writing all six digits there stores
 * them; comparisons and month arithmetic use the milliseconds, as for any Date. */
export class MicroDate extends Date {
  /** The microseconds beyond the millisecond, 0–999. */
  readonly extraMicros: number;
  constructor(epochMicros: bigint) {
    super(Number(epochMicros / 1000n));
    this.extraMicros = Number(epochMicros % 1000n);
  }
  override toISOString(): string {
    // `…T09:50:54.385Z` becomes `…T09:50:54.385581Z`.
    return super.toISOString().slice(0, -1) + String(this.extraMicros).padStart(3, '0') + 'Z';
  }
  override toJSON(): string {
    return this.toISOString();
  }
}

function micros(v: unknown): Date | null {
  const s = str(v);
  if (!s || !/^\d{1,17}$/.test(s) || /^0+$/.test(s)) return null;
  return new MicroDate(BigInt(s));
}

function seconds(v: unknown): number {
  const s = str(v);
  return s && /^\d{1,9}$/.test(s) ? Number(s) : 0;
}

const profileIndex = (flow: Doc) => {
  const n = Number(str(flow.profile_index) ?? NaN);
  return Number.isFinite(n) ? n : Infinity;
};

/** The originating caller profile: the callflow with the lowest `profile_index` (a transfer adds a
 * profile, with the number it was transferred to). mod_json_cdr lists the newest first: newer
 * versions as an array, older ones as a repeated `callflow` key, of which a JSON parser keeps the
 * last (the oldest) as one object. Without indexes, the last listed is the oldest. */
function callerProfile(doc: Doc): Doc {
  const flows = (Array.isArray(doc.callflow) ? doc.callflow : [doc.callflow]).filter(isObject);
  let origin: Doc | undefined;
  for (const flow of flows) if (!origin || profileIndex(flow) <= profileIndex(origin)) origin = flow;
  return origin && isObject(origin.caller_profile) ? origin.caller_profile : {};
}

/** The raw values of a top-level key that `text` (a JSON object) repeats, in order. */
function repeatedTopLevel(text: string, key: string): string[] {
  const values: string[] = [];
  let depth = 0;
  let inString = false;
  let stringStart = 0;
  let lastString = '';
  let valueStart = -1;
  const endValue = (end: number) => {
    if (valueStart >= 0) values.push(text.slice(valueStart, end));
    valueStart = -1;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') {
        inString = false;
        if (depth === 1) lastString = text.slice(stringStart, i + 1);
      }
    } else if (c === '"') {
      inString = true;
      stringStart = i;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 1) endValue(i);
      depth--;
    } else if (depth === 1 && c === ',') endValue(i);
    // At the top level, a string followed by `:` is a key.
    else if (depth === 1 && c === ':' && (JSON.parse(lastString) as string) === key) valueStart = i + 1;
  }
  return values;
}

/** Parses a mod_json_cdr body. Older FreeSWITCH repeats the `callflow` key, one per caller
 * profile; JSON.parse would keep only the last, so repeated ones become an array in their order
 * (as newer versions send it), and no profile is lost from `extra`. Throws on invalid JSON. */
export function parseFreeswitchJson(text: string): unknown {
  // Refused as Fastify's own JSON parser refuses it (prototype poisoning), whatever the encoding.
  if (/"__proto__"\s*:/.test(text)) throw new SyntaxError('a "__proto__" key is not accepted');
  const doc = JSON.parse(text) as unknown;
  const first = text.indexOf('"callflow"');
  if (!isObject(doc) || first < 0 || text.indexOf('"callflow"', first + 1) < 0) return doc;
  const flows = repeatedTopLevel(text, 'callflow');
  if (flows.length > 1) doc.callflow = flows.map((raw) => JSON.parse(raw) as unknown);
  return doc;
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
    ...switchCallFields({ inbound, start, answer, end, callId, billsec }),
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

export interface FreeswitchLoadOptions {
  accountId: string;
  window: IngestWindow;
  /** New month partitions the load may create (HTTP posts); undefined: no limit (CLI replays). */
  maxNewMonths?: number;
  config: Pick<Config, 'fsDirectionVar' | 'fsTrunkVar' | 'dataDir'>;
}

/** What storing one document did, and which CDR it is (when it mapped to one). */
export interface FreeswitchLoadResult extends LoadResult {
  record?: CdrRecord;
}

/** Stores one mod_json_cdr document, however it arrived (a post or a replayed err-log-dir file),
 * so both look alike: source `freeswitch`, not imported. A bulk load, so `pool` is the worker
 * role's (COPY is not allowed under row-level security); the account is the caller's
 * authenticated one, never taken from the document. */
export async function loadFreeswitchCdr(
  pool: pg.Pool,
  doc: unknown,
  { accountId, window, maxNewMonths, config }: FreeswitchLoadOptions,
): Promise<FreeswitchLoadResult> {
  const options = { directionVar: config.fsDirectionVar, trunkVar: config.fsTrunkVar };
  let record: CdrRecord | undefined;
  const map = (raw: unknown) => {
    const mapped = freeswitchToRecord(raw, options);
    if (typeof mapped !== 'string') record = mapped;
    return mapped;
  };
  const result = await loadRecords(pool, [doc], map, {
    accountId,
    source: 'freeswitch',
    imported: false,
    partial: false,
    window,
    maxNewMonths,
    dataDir: config.dataDir,
  });
  return { ...result, record };
}
