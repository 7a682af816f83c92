// What a switch's own CDR (FreeSWITCH mod_json_cdr, Asterisk cdr_csv) says the same way whichever
// switch wrote it: one row is one attempt, its direction decides the kind, and it succeeded when
// it was billed. Both parsers build their records on this, so the two cannot drift.
import type { CdrRecord } from './records.js';

export interface SwitchCall {
  inbound: boolean;
  start: Date;
  answer: Date | null;
  end: Date | null;
  callId: string;
  billsec: number;
}

export function switchCallFields(
  c: SwitchCall,
): Pick<CdrRecord, 'kind' | 'time_start' | 'time_connect' | 'time_end' | 'call_id' | 'attempt' | 'status'> {
  return {
    kind: c.inbound ? 'cdr_in' : 'cdr_out',
    time_start: c.start,
    time_connect: c.answer,
    time_end: c.end,
    call_id: c.callId,
    attempt: 1,
    status: c.billsec > 0 ? 'Success' : 'Failed',
  };
}
