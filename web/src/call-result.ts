// How a call ended, in words a support agent can repeat to a customer: what a hangup cause
// means, the reason phrase of a SIP code, and who hung up.

/** FreeSWITCH's hangup causes (Q.850 names) that the API prints, and what each one means. */
const CAUSE_MEANINGS: Record<string, string> = {
  NORMAL_CLEARING: 'the call was answered and ended normally',
  ORIGINATOR_CANCEL: 'the caller hung up before it was answered',
  USER_BUSY: 'the called party was busy',
  NO_ANSWER: 'it rang, but nobody answered',
  NO_USER_RESPONSE: 'the called party did not respond in time',
  CALL_REJECTED: 'the called party or the network refused the call',
  UNALLOCATED_NUMBER: 'the number does not exist',
  NO_ROUTE_DESTINATION: 'there is no route to the number',
  NUMBER_CHANGED: 'the number has changed',
  INVALID_NUMBER_FORMAT: 'the number is incomplete or malformed',
  RECOVERY_ON_TIMER_EXPIRE: 'the far end did not answer the signalling in time',
  NORMAL_TEMPORARY_FAILURE: 'a temporary failure on the way; trying again may work',
  NETWORK_OUT_OF_ORDER: 'the network on the way was out of order',
  SERVICE_UNAVAILABLE: 'the service is not available',
  SERVICE_NOT_IMPLEMENTED: 'the far end does not support the request',
  INCOMPATIBLE_DESTINATION: 'the two ends share no usable media (codecs)',
  EXCHANGE_ROUTING_ERROR: 'the call looped or passed too many hops',
  INTERWORKING: 'the networks on the way could not work together',
  NORMAL_UNSPECIFIED: 'the call ended for an unspecified reason',
  DESTINATION_OUT_OF_ORDER: 'the called party could not be reached',
  MEDIA_TIMEOUT: 'no audio arrived for too long',
  ALLOTTED_TIMEOUT: 'the call reached its time limit',
  LOSE_RACE: 'another device answered first',
  PICKED_OFF: 'the call was picked up elsewhere',
};

export const causeMeaning = (cause: string): string | undefined => CAUSE_MEANINGS[cause];

/** The reason phrases of RFC 3261 (and its extensions) for the codes calls end with. */
const SIP_REASONS: Record<string, string> = {
  '200': 'OK',
  '400': 'Bad Request',
  '401': 'Unauthorized',
  '402': 'Payment Required',
  '403': 'Forbidden',
  '404': 'Not Found',
  '405': 'Method Not Allowed',
  '406': 'Not Acceptable',
  '407': 'Proxy Authentication Required',
  '408': 'Request Timeout',
  '410': 'Gone',
  '480': 'Temporarily Unavailable',
  '481': 'Call/Transaction Does Not Exist',
  '482': 'Loop Detected',
  '483': 'Too Many Hops',
  '484': 'Address Incomplete',
  '485': 'Ambiguous',
  '486': 'Busy Here',
  '487': 'Request Terminated',
  '488': 'Not Acceptable Here',
  '500': 'Server Internal Error',
  '501': 'Not Implemented',
  '502': 'Bad Gateway',
  '503': 'Service Unavailable',
  '504': 'Server Time-out',
  '600': 'Busy Everywhere',
  '603': 'Decline',
  '604': 'Does Not Exist Anywhere',
  '606': 'Not Acceptable',
};

/** "486 Busy Here": the CDR's own reason (a DIDWW file's `Response`) wins over the standard one. */
export function sipResult(code: unknown, reason: unknown): string | undefined {
  const c = typeof code === 'string' || typeof code === 'number' ? String(code) : '';
  const r = typeof reason === 'string' && reason ? reason : SIP_REASONS[c];
  const text = [c, r].filter(Boolean).join(' ');
  return text || undefined;
}

type Doc = Record<string, unknown>;
const objectAt = (doc: Doc, key: string): Doc | undefined => {
  const v = doc[key];
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : undefined;
};

/**
 * Who ended the call: a DIDWW file says so (`disconnect_initiator`); a switch says which way its
 * BYE or CANCEL went (`sip_hangup_disposition`, Kazoo's `disposition`): `recv_*` means the far
 * end of this leg hung up (the caller on an inbound leg, the callee on an outbound one), `send_*`
 * that the switch did.
 */
export function whoHungUp(doc: Doc): string | undefined {
  if (typeof doc.disconnect_initiator === 'string' && doc.disconnect_initiator)
    return doc.disconnect_initiator;
  const disposition = [
    doc.disposition,
    doc.hangup_disposition,
    objectAt(doc, 'variables')?.sip_hangup_disposition,
    objectAt(doc, 'custom_channel_vars')?.sip_hangup_disposition,
  ].find((v): v is string => typeof v === 'string' && v !== '');
  if (!disposition) return undefined;
  const inbound = (doc.call_direction ?? doc.direction) === 'inbound';
  if (disposition.startsWith('recv_')) return inbound ? 'Caller' : 'Callee';
  if (disposition.startsWith('send_')) return 'The switch';
  return disposition;
}
