// The span of time a CDR may fall in to be stored, and the number of new month partitions one
// HTTP load may cause. Every ingestion path (Kazoo upload, FreeSWITCH post, `cdrex import`,
// `cdrex generate`) checks its times against `ingestWindow`, and partition creation is bounded by
// the same window, so a record dated 1970 or 5138 can neither be stored nor make a partition.
import type { Config } from '../config.js';
import { CdrexError } from '../errors.js';
import { addMonths, monthStart, partitionName } from '../store/partitions.js';
import type { CdrRecord } from './records.js';

/** Both ends inclusive. */
export interface IngestWindow {
  from: Date;
  to: Date;
}

/** From `CDREX_INGEST_FROM` to `now` plus `CDREX_INGEST_AHEAD_S` (for switches whose clock is ahead). */
export function ingestWindow(
  config: Pick<Config, 'ingestFrom' | 'ingestAheadS'>,
  now: Date = new Date(),
): IngestWindow {
  return { from: config.ingestFrom, to: new Date(now.getTime() + config.ingestAheadS * 1000) };
}

/** Whether any moment of the month holding `date` lies in the window: only such months may get a
 * partition. */
export function monthInWindow(date: Date, window: IngestWindow): boolean {
  const start = monthStart(date);
  return start.getTime() <= window.to.getTime() && addMonths(start, 1).getTime() > window.from.getTime();
}

/** Whole seconds print without a fraction, whatever the precision (FreeSWITCH times carry µs). */
const iso = (d: Date) => d.toISOString().replace(/\.0+Z$/, 'Z');

/** Why `time` (of the column `field`) cannot be stored, or undefined when it lies in the window. */
export function timeOutsideWindow(field: string, time: Date, window: IngestWindow): string | undefined {
  const t = time.getTime();
  if (Number.isNaN(t)) return `${field} is not a valid time`;
  if (t < window.from.getTime())
    return `${field} ${iso(time)} is before ${iso(window.from)}, the earliest time accepted (CDREX_INGEST_FROM)`;
  if (t > window.to.getTime())
    return `${field} ${iso(time)} is after ${iso(window.to)}, the latest time accepted (now + CDREX_INGEST_AHEAD_S)`;
  return undefined;
}

/** Why the record's times cannot be stored, or undefined when all of them lie in the window. */
export function recordOutsideWindow(record: CdrRecord, window: IngestWindow): string | undefined {
  return (
    timeOutsideWindow('time_start', record.time_start, window) ??
    (record.time_connect && timeOutsideWindow('time_connect', record.time_connect, window)) ??
    (record.time_end && timeOutsideWindow('time_end', record.time_end, window)) ??
    undefined
  );
}

/** One load would create more new month partitions than `CDREX_NEW_MONTHS_PER_LOAD` allows. */
export class NewMonthsLimitError extends CdrexError {
  readonly months: string[];
  constructor(months: string[], limit: number) {
    super(
      `This load would create ${months.length} new months (${months.join(', ')}); one load may create ` +
        `at most ${limit} (CDREX_NEW_MONTHS_PER_LOAD). Nothing was stored: send fewer months at a time.`,
      'too_many_new_months',
      400,
    );
    this.months = months;
  }
}

/** Throws NewMonthsLimitError when more than `limit` of the months (any date in each) have no
 * partition among `existing` (from partitionNames). `limit` undefined: no limit (CLI imports). */
export function checkNewMonths(
  months: Iterable<Date>,
  existing: Set<string>,
  limit: number | undefined,
): void {
  if (limit === undefined) return;
  const missing = new Map<string, number>();
  for (const d of months) {
    const name = partitionName(d);
    if (!existing.has(name)) missing.set(name, monthStart(d).getTime());
  }
  if (missing.size <= limit) return;
  const labels = [...missing.values()]
    .sort((a, b) => a - b)
    .map((t) => new Date(t).toISOString().slice(0, 7));
  throw new NewMonthsLimitError(labels, limit);
}
