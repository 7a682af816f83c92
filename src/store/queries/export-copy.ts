// The statements an export runs on `cdrs`: the bounds its time slices are cut from, and the COPY
// of one slice. The file pipeline around them (gzip, fsync, rename) is src/export/export-file.ts.
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { columnsFor, exportExpression, LEGACY_COLUMNS } from '../../formats/didww-csv.js';
import { SqlParams } from './cdr-search.js';
import { prepareCopy } from '../sql.js';
import type { ExportRow } from './exports.js';

/** A part of an export's range, [from, to). */
export interface TimeSlice {
  from: Date;
  to: Date;
}

/**
 * The SELECT an export runs (over `slice` of its range when given). COPY takes no bind parameters,
 * so its values are transaction-local settings read back by the query (SqlParams 'setting'
 * style): no value becomes SQL text.
 */
export function exportSelect(exp: ExportRow, params: SqlParams, slice?: TimeSlice): string {
  const columns = exp.dialect === 'cdr_exports' ? LEGACY_COLUMNS : columnsFor(exp.export_type);
  return `select ${columns.map(exportExpression).join(', ')} from cdrs
    where ${exportWhere(exp, params, slice)} order by time_start, call_id, attempt`;
}

function exportWhere(exp: ExportRow, params: SqlParams, slice?: TimeSlice): string {
  const where = [
    `account_id = ${params.account(exp.account_id)}::text`,
    `kind = ${params.add(exp.export_type)}::text`,
    `time_start >= ${params.add(slice?.from ?? exp.range_from)}::timestamptz`,
    `time_start < ${params.add(slice?.to ?? exp.range_to)}::timestamptz`,
  ];
  if (exp.did_number) {
    // Stored numbers may carry a leading + or not (E.164 from one source, DIDWW's digits from
    // another): the filter matches both spellings, as two equalities an index can still use.
    const digits = exp.did_number.replace(/^\+/, '');
    where.push(`did_number in (${params.add(digits)}::text, ${params.add(`+${digits}`)}::text)`);
  }
  if (exp.voice_out_trunk_id) where.push(`voice_out_trunk_id = ${params.add(exp.voice_out_trunk_id)}::text`);
  return where.join(' and ');
}

/** The first and last start time of the export's rows (null for both when it has none). */
export async function exportTimeBounds(
  client: pg.ClientBase,
  exp: ExportRow,
): Promise<{ lo: Date | null; hi: Date | null }> {
  const params = new SqlParams();
  const { rows } = await client.query<{ lo: Date | null; hi: Date | null }>(
    `select min(time_start) as lo, max(time_start) as hi from cdrs where ${exportWhere(exp, params)}`,
    params.values,
  );
  return rows[0];
}

export type ExportCopy = ReturnType<typeof copyTo>;

/**
 * Starts the COPY of one slice of the export on `client` (inside the account's transaction) and
 * returns its stream; only the slice with `header` prints the CSV header.
 */
export async function openExportCopy(
  client: pg.ClientBase,
  exp: ExportRow,
  slice: TimeSlice,
  header: boolean,
): Promise<ExportCopy> {
  const params = new SqlParams('setting');
  const select = exportSelect(exp, params, slice);
  await prepareCopy(client, params);
  const options = header ? '(format csv, header)' : '(format csv)';
  return client.query(copyTo(`copy (${select}) to stdout ${options}`));
}
