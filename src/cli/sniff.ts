// What an import file looks like, from its first line: said when the header does not match the
// --type given, with the command that would read it (issue #14: a cdr_out file imported as
// cdr_in, a Kazoo CSV or an Asterisk Master.csv given as a DIDWW export).
import { INBOUND_COLUMNS, LEGACY_COLUMNS, OUTBOUND_COLUMNS } from '../formats/didww-csv.js';

export type ImportType = 'cdr_in' | 'cdr_out' | 'kazoo' | 'asterisk' | 'freeswitch';

export interface Sniffed {
  /** "a cdr_out file (…)", for "this is …" / "this looks like …". */
  what: string;
  /** The --type that reads it; none for a file cdrex does not import. */
  type?: ImportType;
  /** Whether the first line identifies it exactly (a DIDWW header) or only suggests it. */
  certain: boolean;
}

const header = (columns: { header: string }[]) => columns.map((c) => c.header).join(',');
const ASTERISK_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const ASTERISK_DISPOSITION = /^(ANSWERED|NO ANSWER|BUSY|FAILED|CONGESTION)$/;

/** The cells of one CSV line (RFC 4180 quoting; enough to recognise a layout). */
function cells(line: string): string[] {
  const out: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') cell += line[++i];
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) {
      out.push(cell);
      cell = '';
    } else cell += c;
  }
  out.push(cell);
  return out;
}

/** What the first line (BOM and line end removed) says the file is; undefined when it is none of
 * the layouts cdrex knows. */
export function sniffFirstLine(line: string): Sniffed | undefined {
  const first = line.trim();
  if (first === header(INBOUND_COLUMNS))
    return { what: 'a cdr_in file (a DIDWW inbound export)', type: 'cdr_in', certain: true };
  if (first === header(OUTBOUND_COLUMNS))
    return { what: 'a cdr_out file (a DIDWW outbound export)', type: 'cdr_out', certain: true };
  if (first === header(LEGACY_COLUMNS))
    return {
      what: 'a legacy DIDWW cdr_exports file (the 2017 layout), which cdrex does not import',
      certain: true,
    };
  if (first.startsWith('{') || first.startsWith('['))
    return /"(variables|callflow)"/.test(first)
      ? { what: 'a FreeSWITCH mod_json_cdr file', type: 'freeswitch', certain: false }
      : { what: 'a Kazoo JSON file', type: 'kazoo', certain: false };
  const fields = cells(first);
  if (fields.includes('call_id') && fields.some((f) => ['timestamp', 'duration_seconds', 'id'].includes(f)))
    return { what: 'a Kazoo CSV (Kazoo field names)', type: 'kazoo', certain: false };
  if (
    fields.length >= 16 &&
    fields.length <= 21 &&
    fields.some((f) => ASTERISK_TIME.test(f)) &&
    fields.some((f) => ASTERISK_DISPOSITION.test(f))
  )
    return { what: 'an Asterisk Master.csv (cdr_csv)', type: 'asterisk', certain: false };
  return undefined;
}

/** The error for a file whose first line does not suit --type: what it is and the command to use. */
export function wrongTypeMessage(
  chosen: ImportType,
  firstLine: string,
  account: string,
  file: string,
): string | undefined {
  const sniffed = sniffFirstLine(firstLine);
  if (!sniffed || sniffed.type === chosen) return undefined;
  const opening = `The file does not fit --type ${chosen}: ${sniffed.certain ? 'this is' : 'this looks like'} ${sniffed.what}.`;
  if (!sniffed.type) return opening;
  return `${opening} Use: cdrex import --account ${account} --type ${sniffed.type} ${file}`;
}
