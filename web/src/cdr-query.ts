// The Calls page's filters and the Kazoo query they make: one place, so the rows, the total and
// "Download CSV" ask for exactly the same calls.
import type { Query } from './api';
import { rangeQuery, type Range } from './time';

export interface CdrRow {
  id: string;
  call_id: string;
  /** The call's start, as Kazoo prints it: a string of Unix seconds. */
  unix_timestamp: string;
  direction: 'inbound' | 'outbound';
  caller_id_number?: string;
  callee_id_number?: string;
  duration_seconds: number;
  billing_seconds: number;
  hangup_cause?: string;
  /** Kazoo units (1 USD = 10000). */
  cost?: string;
}

export interface Filters {
  direction: string;
  numberField: 'caller_id_number' | 'callee_id_number';
  number: string;
  hangupCause: string;
  trunk: string;
  ip: string;
}

export const NO_FILTERS: Filters = {
  direction: '',
  numberField: 'callee_id_number',
  number: '',
  hangupCause: '',
  trunk: '',
  ip: '',
};

/** Whether any filter narrows the range (which number field is picked is not a filter). */
export const filtered = (f: Filters) =>
  Boolean(f.direction || f.number.trim() || f.hangupCause.trim() || f.trunk.trim() || f.ip.trim());

/** The Kazoo query for a range and filters; a number is matched as a prefix. */
export function listQuery(range: Range, f: Filters): Query {
  const number = f.number.trim().replace(/\*+$/, '');
  return {
    ...rangeQuery(range),
    filter_direction: f.direction || undefined,
    [`filter_${f.numberField}`]: number ? `${number}*` : undefined,
    filter_hangup_cause: f.hangupCause.trim() || undefined,
    filter_trunk_name: f.trunk.trim() || undefined,
    filter_sip_network_ip: f.ip.trim() || undefined,
  };
}
