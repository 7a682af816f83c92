// Promise (issue 12, ranges): the portal's month presets are [first second, last second] of the
// month in the browser's time zone. Kazoo's created_to covers its whole second, so back-to-back
// months asked for with them never overlap and leave no gap: a call starting at 00:00:00 on the
// 1st is in its new month only. Checked in time zones with DST, DST at midnight (Santiago, where
// a day may start at 01:00), half-hour DST (Lord Howe) and odd offsets (Kathmandu).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { monthRange, presetRange, rangeProblem, rangeQuery } from '../../web/src/time.js';

const ZONES = ['UTC', 'America/New_York', 'America/Santiago', 'Australia/Lord_Howe', 'Asia/Kathmandu'];
const savedTz = process.env.TZ;
after(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

/** Every month from January 2024 to December 2026, as (year, month index). */
const MONTHS = Array.from({ length: 36 }, (_, i) => [2024 + Math.floor(i / 12), i % 12] as const);

/** The month as the test reads the promise: from the first moment of the 1st to one second before
 * the next month's first moment, in the zone in force. */
function calendarMonth(year: number, month: number): [Date, Date] {
  const next = new Date(year, month + 1, 1);
  return [new Date(year, month, 1), new Date(next.getTime() - 1000)];
}

for (const zone of ZONES) {
  test(`"This month" and "Last month" in ${zone}: first second to last, consecutive months meet exactly`, () => {
    process.env.TZ = zone; // Node rereads the zone when TZ is assigned
    for (const [year, month] of MONTHS) {
      const [from, to] = calendarMonth(year, month);
      // The first moment of the 1st (00:00:00, or the first that exists on a DST morning), and
      // the last second of the last day.
      assert.deepEqual(
        [from.getMonth(), from.getDate(), from.getMinutes(), from.getSeconds()],
        [month, 1, 0, 0],
      );
      assert.ok(from.getHours() <= 1);
      assert.deepEqual([to.getMonth(), to.getHours(), to.getMinutes(), to.getSeconds()], [month, 23, 59, 59]);
      // At any moment of the month: its first second, the middle, its last second.
      for (const now of [from, new Date(year, month, 15, 12), to]) {
        const at = `at ${now.toISOString()} in ${zone}`;
        const thisMonth = presetRange('month', now);
        const lastMonth = presetRange('last_month', now);
        assert.deepEqual([thisMonth.from, thisMonth.to], [from, to], `this month ${at}`);
        assert.deepEqual([lastMonth.from, lastMonth.to], calendarMonth(year, month - 1), `last month ${at}`);
        // As the API takes them (created_to covers its whole second): no overlap, no gap.
        assert.equal(rangeQuery(lastMonth).created_to + 1, rangeQuery(thisMonth).created_from);
        assert.equal(rangeProblem(thisMonth), undefined, "within the API's longest range");
      }
      assert.deepEqual(Object.values(monthRange(year, month)), [from, to]);
    }
  });
}
