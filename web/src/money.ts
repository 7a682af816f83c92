// Kazoo prints `cost` in units, 1 USD = 10000 (cb_cdrs, kapps_call_util:call_cost); people read
// dollars. Always four decimals (a unit is a hundredth of a cent, and DIDWW files print money with
// four too), so a column of costs lines up and a zero reads as money, not as a missing value.
const usd = new Intl.NumberFormat(undefined, {
  style: 'currency',
  currency: 'USD',
  minimumFractionDigits: 4,
  maximumFractionDigits: 4,
});

/** Kazoo units as dollars with the currency, e.g. "$0.0125"; what is not a number as it came. */
export function formatUnits(units: string | number): string {
  const n = Number(units);
  return units !== '' && Number.isFinite(n) ? usd.format(n / 10000) : String(units);
}

/** Dollars (Kazoo's `rate`) with the currency and four decimals. */
export function formatDollars(dollars: string | number): string {
  const n = Number(dollars);
  return dollars !== '' && Number.isFinite(n) ? usd.format(n) : String(dollars);
}
