// `generate` is what demos, benchmarks and screenshots are made of, so its month must look like a
// carrier's: these tests read generated CSV the way an analyst would and check each property the
// help text promises. Generation is deterministic, so the statistics below are exact for the
// seeds used, not sampled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { text } from 'node:stream/consumers';
import { generateCsv, type GenerateOptions } from '../../src/ingest/generate.js';
import type { CdrKind } from '../../src/store/queries/cdrs.js';

const OCTOBER = new Date(Date.UTC(2026, 9, 1));
const NOW = new Date(Date.UTC(2026, 9, 20, 12, 0, 0));

interface Row {
  start: number;
  connect?: number;
  end?: number;
  status: string;
  duration: number;
  attempt: number;
  code: string;
  country: string;
  callId: string;
}

const time = (cell: string) => (cell ? Date.parse(`${cell.replace(' ', 'T')}Z`) : undefined);

async function generate(kind: CdrKind, rows: number, extra: Partial<GenerateOptions> = {}): Promise<Row[]> {
  const csv = await text(generateCsv({ kind, month: OCTOBER, rows, seed: 7, now: NOW, ...extra }));
  const lines = csv.trim().split('\n').slice(1);
  assert.equal(lines.length, rows, 'exactly the rows asked for');
  return lines.map((line) => {
    const c = line.split(',');
    if (kind === 'cdr_in') {
      assert.equal(c.length, 22, line);
      return {
        start: time(c[0])!,
        connect: time(c[1]),
        end: time(c[2]),
        status: c[3],
        duration: Number(c[7]),
        attempt: Number(c[8]),
        code: c[9],
        country: c[4].slice(0, 2),
        callId: c[21],
      };
    }
    assert.equal(c.length, 19, line);
    return {
      start: time(c[0])!,
      connect: time(c[1]),
      end: time(c[2]),
      status: c[3],
      duration: Number(c[7]),
      attempt: 1,
      code: c[9],
      country: c[12],
      callId: c[18],
    };
  });
}

test('same seed and --now, same rows; another --now, other rows', async () => {
  const once = await text(generateCsv({ kind: 'cdr_in', month: OCTOBER, rows: 300, seed: 3, now: NOW }));
  const again = await text(generateCsv({ kind: 'cdr_in', month: OCTOBER, rows: 300, seed: 3, now: NOW }));
  const later = await text(
    generateCsv({ kind: 'cdr_in', month: OCTOBER, rows: 300, seed: 3, now: new Date(Date.UTC(2026, 9, 25)) }),
  );
  assert.equal(once, again);
  assert.notEqual(once, later);
});

test('nothing starts, connects or ends after --now, and the days before it are all used', async () => {
  for (const kind of ['cdr_in', 'cdr_out'] as const) {
    const rows = await generate(kind, 5000);
    for (const r of rows)
      for (const t of [r.start, r.connect, r.end])
        if (t !== undefined) assert.ok(t <= NOW.getTime(), `${new Date(t).toISOString()} is after --now`);
    const days = new Set(rows.map((r) => new Date(r.start).getUTCDate()));
    assert.deepEqual(
      [...days].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  }
});

test('call ids are unique per month and direction: other months and the other direction share none', async () => {
  const october = await generate('cdr_out', 3000);
  const inbound = await generate('cdr_in', 3000);
  const september = await generate('cdr_out', 3000, { month: new Date(Date.UTC(2026, 8, 1)) });
  const ids = new Set(october.map((r) => r.callId));
  assert.equal(ids.size, october.length, 'no call id twice in a month');
  for (const other of [inbound, september])
    assert.equal(other.filter((r) => ids.has(r.callId)).length, 0, 'no call id shared');
});

test('traffic follows a day/night and weekday curve', async () => {
  const rows = await generate('cdr_out', 20000);
  const weekday = rows.filter((r) => ![0, 6].includes(new Date(r.start).getUTCDay()));
  const inHours = (from: number, to: number) =>
    weekday.filter((r) => new Date(r.start).getUTCHours() >= from && new Date(r.start).getUTCHours() < to)
      .length;
  assert.ok(inHours(10, 12) > 8 * inHours(2, 4), `busy hours ${inHours(10, 12)}, night ${inHours(2, 4)}`);
  // October 2026: the 4th and 11th are Sundays, the 6th and 13th Tuesdays.
  const onDay = (day: number) => rows.filter((r) => new Date(r.start).getUTCDate() === day).length;
  assert.ok(onDay(6) + onDay(13) > 2 * (onDay(4) + onDay(11)), 'Tuesdays carry more than Sundays');
});

test('answer rates and failure causes differ by destination', async () => {
  const rows = await generate('cdr_out', 20000);
  const answerRate = (country: string) => {
    const to = rows.filter((r) => r.country === country);
    return to.filter((r) => r.status === 'Success').length / to.length;
  };
  assert.ok(answerRate('United States') - answerRate('Israel') > 0.15, 'the US answers more than Israel');
  const causes = (country: string) =>
    new Set(rows.filter((r) => r.country === country && r.status === 'Failed').map((r) => r.code));
  assert.ok(causes('Israel').has('503') && !causes('United Kingdom').has('503'));
  for (const r of rows) assert.equal(r.status === 'Success', r.code === '200');
});

test('talk times have a realistic tail: most calls short, some over half an hour', async () => {
  const talks = (await generate('cdr_in', 20000))
    .filter((r) => r.status === 'Success')
    .map((r) => r.duration)
    .sort((a, b) => a - b);
  const median = talks[Math.floor(talks.length / 2)];
  assert.ok(median >= 45 && median <= 150, `median ${median} s`);
  assert.ok(talks.filter((d) => d > 1800).length >= 10, 'calls over 30 minutes');
  assert.ok(talks[talks.length - 1] <= 5400);
  for (const r of await generate('cdr_in', 2000))
    if (r.end !== undefined && r.connect !== undefined) assert.equal(r.end - r.connect, r.duration * 1000);
});

test('a few inbound calls take a second attempt: same call id, after the failed first', async () => {
  const rows = await generate('cdr_in', 20000);
  const byCall = new Map<string, Row[]>();
  for (const r of rows) byCall.set(r.callId, [...(byCall.get(r.callId) ?? []), r]);
  const retried = [...byCall.values()].filter((attempts) => attempts.length > 1);
  assert.ok(retried.length > 100 && retried.length < 1200, `${retried.length} retried calls`);
  for (const [first, second] of retried) {
    assert.deepEqual([first.attempt, second.attempt], [1, 2]);
    assert.equal(first.status, 'Failed');
    assert.ok(second.start > first.start);
  }
  assert.ok(
    rows.every((r) => r.attempt === 1 || byCall.get(r.callId)!.length === 2),
    'no orphan attempt 2',
  );
});
