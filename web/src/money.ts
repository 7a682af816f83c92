// Kazoo prints `cost` in units, 1 USD = 10000 (cb_cdrs, kapps_call_util:call_cost); people read
// dollars.
export function unitsToDollars(units: string | number): string {
  const n = Number(units);
  return Number.isFinite(n) ? (n / 10000).toFixed(4) : String(units);
}
