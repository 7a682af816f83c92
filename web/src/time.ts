// Time ranges as people pick them (presets in the browser's time zone) and as the Kazoo API takes
// them (Gregorian seconds, plus utc_offset so days and hours are the browser's).
export const GREGORIAN_OFFSET = 62167219200;
/** The API's longest range (CDREX_KAZOO_MAX_RANGE_S's default, 31 days). */
export const MAX_RANGE_S = 2682000;

export type Preset = 'hour' | 'today' | 'month' | 'last_month' | 'custom';

export interface Range {
  preset: Preset;
  from: Date;
  to: Date;
}

export const PRESETS: { value: Preset; label: string }[] = [
  { value: 'hour', label: 'Last hour' },
  { value: 'today', label: 'Today' },
  { value: 'month', label: 'This month' },
  { value: 'last_month', label: 'Last month' },
  { value: 'custom', label: 'Custom' },
];

/** A calendar month in the browser's time zone as [its first second, its last second]. The API's
 * created_to covers its whole second (`time_start < created_to + 1 s`), so the range ends right
 * where the next month's begins: consecutive months never overlap, and a call starting at
 * 00:00:00 on the 1st is in the new month only. `month` may run past 11 or below 0. */
export function monthRange(year: number, month: number): { from: Date; to: Date } {
  const from = new Date(year, month, 1, 0, 0, 0, 0);
  const next = new Date(year, month + 1, 1, 0, 0, 0, 0);
  return { from, to: new Date(next.getTime() - 1000) };
}

export function presetRange(preset: Exclude<Preset, 'custom'>, now = new Date()): Range {
  if (preset === 'month' || preset === 'last_month') {
    const shift = preset === 'month' ? 0 : -1;
    return { preset, ...monthRange(now.getFullYear(), now.getMonth() + shift) };
  }
  const from = new Date(now);
  if (preset === 'hour') from.setTime(now.getTime() - 3600_000);
  else from.setHours(0, 0, 0, 0);
  return { preset, from, to: now };
}

export const gregorian = (d: Date) => Math.floor(d.getTime() / 1000) + GREGORIAN_OFFSET;

/** Seconds east of UTC, as the API's utc_offset wants (the browser's offset at that moment). */
export const utcOffset = (d: Date = new Date()) => -d.getTimezoneOffset() * 60;

export function rangeQuery(range: Range) {
  return {
    created_from: gregorian(range.from),
    created_to: gregorian(range.to),
    utc_offset: utcOffset(range.from),
  };
}

/** Why a custom range cannot be asked for, or undefined when it can. */
export function rangeProblem(range: Range): string | undefined {
  if (Number.isNaN(range.from.getTime()) || Number.isNaN(range.to.getTime()))
    return 'Pick a start and an end.';
  if (range.to <= range.from) return 'The end must be after the start.';
  if ((range.to.getTime() - range.from.getTime()) / 1000 > MAX_RANGE_S)
    return 'A range can span at most 31 days.';
  return undefined;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** The value of an <input type="datetime-local"> for a moment, in local time. */
export function toLocalInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value: string): Date {
  return new Date(value);
}

const localFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const formatLocal = (d: Date) => localFormat.format(d);
// For narrow screens: the date without the year, the time without seconds.
const shortFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});
export const formatShort = (d: Date) => shortFormat.format(d);
export const formatUtc = (d: Date) => `${d.toISOString().replace('T', ' ').slice(0, 19)} UTC`;

export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export type Bucket = 'hour' | 'day';

/** Hourly buckets up to two days, daily beyond. */
export const bucketFor = (range: Range): Bucket =>
  range.to.getTime() - range.from.getTime() > 2 * 86400_000 ? 'day' : 'hour';

/** Every bucket start in the range, aligned as the server aligns them (fixed utc_offset), in ms. */
export function bucketStarts(range: Range, bucket: Bucket): number[] {
  const size = bucket === 'hour' ? 3600_000 : 86400_000;
  const offset = utcOffset(range.from) * 1000;
  const first = Math.floor((range.from.getTime() + offset) / size) * size - offset;
  const starts: number[] = [];
  for (let t = first; t < range.to.getTime(); t += size) starts.push(t);
  return starts;
}
