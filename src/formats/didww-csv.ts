// The DIDWW CSV layouts, column by column: the header (byte-exact), its type, and the `cdrs`
// column that holds it. One table drives the import (a staging table whose column names are the
// headers, so COPY … HEADER MATCH checks them) and the export SELECT, so the two cannot drift.
import type { CdrKind } from '../store/queries/cdrs.js';
import { MASK_EXPORT_DIGITS, maskedIf } from '../store/queries/lifecycle.js';

export type CsvType = 'timestamptz' | 'text' | 'integer' | 'numeric';

export interface CsvColumn {
  header: string;
  type: CsvType;
  /** SQL over `cdrs` that yields the stored value (usually a column name). */
  column: string;
  /** Required cells: an empty one is a malformed row. */
  required?: boolean;
}

const MONEY_SCALE = 4;

/** The columns both directions begin with: the call's times, its status and who called. */
const CALL_COLUMNS: CsvColumn[] = [
  { header: 'Date/Time Start (UTC)', type: 'timestamptz', column: 'time_start', required: true },
  { header: 'Date/Time Connect (UTC)', type: 'timestamptz', column: 'time_connect' },
  { header: 'Date/Time End (UTC)', type: 'timestamptz', column: 'time_end' },
  { header: 'Status', type: 'text', column: 'status', required: true },
  { header: 'Source', type: 'text', column: 'source_number' },
];
const DISCONNECT_CODE: CsvColumn = { header: 'Disconnect Code', type: 'text', column: 'disconnect_code' };
/** The last column of both directions. */
const CALL_ID: CsvColumn = { header: 'Call ID', type: 'text', column: 'call_id', required: true };

export const INBOUND_COLUMNS: CsvColumn[] = [
  ...CALL_COLUMNS,
  { header: 'Source Name', type: 'text', column: 'source_name' },
  { header: 'Destination DID', type: 'text', column: 'did_number' },
  { header: 'Duration (sec)', type: 'integer', column: 'duration_s' },
  { header: 'Attempt', type: 'integer', column: 'attempt' },
  DISCONNECT_CODE,
  { header: 'Response', type: 'text', column: 'disconnect_reason' },
  { header: 'Disconnect Initiator', type: 'text', column: 'disconnect_initiator' },
  { header: 'Voice IN Trunk', type: 'text', column: 'trunk_name' },
  { header: 'Destination', type: 'text', column: 'destination' },
  { header: 'Trunk Group', type: 'text', column: 'trunk_group' },
  { header: 'Capacity Group', type: 'text', column: 'capacity_group' },
  { header: 'Toll-free (USD)', type: 'numeric', column: 'cost_tollfree' },
  { header: 'PSTN (USD)', type: 'numeric', column: 'cost_pstn' },
  { header: 'Metered (USD)', type: 'numeric', column: 'cost_metered' },
  { header: 'CNAM IN (USD)', type: 'numeric', column: 'cost_cnam' },
  { header: 'Total (USD)', type: 'numeric', column: 'cost' },
  CALL_ID,
];

export const OUTBOUND_COLUMNS: CsvColumn[] = [
  ...CALL_COLUMNS,
  { header: 'CLI', type: 'text', column: 'cli' },
  { header: 'Destination Number', type: 'text', column: 'destination' },
  { header: 'Call Duration (sec)', type: 'integer', column: 'duration_s' },
  { header: 'Billing Duration (sec)', type: 'integer', column: 'billing_s' },
  DISCONNECT_CODE,
  { header: 'Disconnect Reason', type: 'text', column: 'disconnect_reason' },
  { header: 'Voice OUT Trunk', type: 'text', column: 'trunk_name' },
  { header: 'Destination Country', type: 'text', column: 'destination_country' },
  { header: 'Network', type: 'text', column: 'network' },
  { header: 'Call Type', type: 'text', column: 'call_type' },
  { header: 'Rate (USD)', type: 'numeric', column: 'rate' },
  { header: 'Charged (USD)', type: 'numeric', column: 'cost' },
  { header: 'P-Charge-Info', type: 'text', column: 'p_charge_info' },
  CALL_ID,
];

/** The 2017 layout of the legacy /v3/cdr_exports (inbound only). */
export const LEGACY_COLUMNS: CsvColumn[] = [
  { header: 'Date/Time (UTC)', type: 'timestamptz', column: 'time_start' },
  { header: 'Source', type: 'text', column: 'source_number' },
  { header: 'DID', type: 'text', column: 'did_number' },
  { header: 'Destination', type: 'text', column: 'destination' },
  { header: 'Duration (secs)', type: 'integer', column: 'duration_s' },
  { header: 'Disconnect Initiator', type: 'text', column: 'disconnect_initiator' },
  { header: 'Disconnect Code', type: 'text', column: 'disconnect_code' },
  { header: 'Response', type: 'text', column: 'disconnect_reason' },
  { header: 'TollFree Amount (USD)', type: 'numeric', column: 'cost_tollfree' },
  { header: 'Termination Amount (USD)', type: 'numeric', column: 'cost_pstn' },
  { header: 'Metered Channels Amount (USD)', type: 'numeric', column: 'cost_metered' },
  { header: 'Customer ID', type: 'text', column: 'account_id' },
  { header: 'Sell Amount (Points)', type: 'numeric', column: 'cost' },
];

export function columnsFor(kind: CdrKind): CsvColumn[] {
  return kind === 'cdr_in' ? INBOUND_COLUMNS : OUTBOUND_COLUMNS;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The SQL that prints one column as DIDWW does: UTC seconds without `T`, money at 4 decimals. */
export function exportExpression(col: CsvColumn): string {
  const alias = quoteIdent(col.header);
  switch (col.type) {
    case 'timestamptz':
      // `YYYY-MM-DD HH:MM:SS`: a whole-second timestamp prints so under DateStyle ISO, which every
      // cdrex session sets (store/db.ts); measured 10% cheaper per column than to_char.
      return `date_trunc('second', ${col.column} at time zone 'UTC') as ${alias}`;
    case 'numeric':
      return `round(${col.column}, ${MONEY_SCALE}) as ${alias}`;
    default:
      // The caller's number, and a name or CLI that may repeat it, masked only for an account that
      // asked for masked exports (`cdrex accounts mask --exports`); otherwise byte for byte as stored.
      if (CALLER_COLUMNS.has(col.column)) return `${maskedIf(MASK_EXPORT_DIGITS, col.column)} as ${alias}`;
      return `${col.column} as ${alias}`;
  }
}

const CALLER_COLUMNS: ReadonlySet<string> = new Set(['source_number', 'source_name', 'cli']);

export function headerLine(columns: CsvColumn[]): string {
  return columns.map((c) => c.header).join(',');
}
