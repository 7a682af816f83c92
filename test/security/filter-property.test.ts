// A property over random filter combinations with hostile values and two accounts that hold the
// same values: every response (paginated list, CSV, paginate=false, summary) holds exactly the
// caller's own matching rows, compared with the matches this test computes itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer } from '../helpers/server.js';

const RUNS = Number(process.env.CDREX_PROPERTY_RUNS ?? 60);
const server = await startServer(await createTestDatabase(), { worker: false });
const a = await server.newAccount('a');
const b = await server.newAccount('b');

const HOSTILE = [
  '$1',
  '$4',
  '$9',
  'x$4y',
  '$`',
  "$'",
  '$&',
  "'",
  '"',
  '\\',
  '%',
  '_',
  ') or (true) or (x = ',
  'é😀',
];
const NAMES = ['Alice', 'Bob', ...HOSTILE];
const NUMBERS = ['+14155550100', '+14155550199', '+442071234567', '14155550100', '%1', '$1'];
const CAUSES = ['NORMAL_CLEARING', 'USER_BUSY', "NO_'ANSWER", '$2'];

interface Doc {
  call_id: string;
  caller_id_name?: string;
  callee_id_name?: string;
  caller_id_number?: string;
  hangup_cause?: string;
  timestamp: number;
  duration_seconds: number;
}

const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
/** Deterministic docs: the i-th picks values round-robin, some fields left out. */
function docs(prefix: string, n: number): Doc[] {
  return Array.from({ length: n }, (_, i) => ({
    call_id: `${prefix}-${i}`,
    ...(i % 5 !== 0 ? { caller_id_name: NAMES[i % NAMES.length] } : {}),
    ...(i % 7 !== 0 ? { callee_id_name: NAMES[(i * 3) % NAMES.length] } : {}),
    ...(i % 4 !== 0 ? { caller_id_number: NUMBERS[i % NUMBERS.length] } : {}),
    ...(i % 3 !== 0 ? { hangup_cause: CAUSES[i % CAUSES.length] } : {}),
    timestamp: nowG - 3600 + i,
    duration_seconds: i % 11,
  }));
}

const bDocs = docs('b', 90);
for (const [who, list] of [
  [a, docs('a', 120)],
  [b, bDocs],
] as const) {
  const res = await fetch(`${server.base}/v2/accounts/${who.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': who.api_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: list }),
  });
  assert.equal(res.status, 201, await res.text());
}

type Key = 'caller_id_name' | 'callee_id_name' | 'caller_id_number' | 'hangup_cause';
interface Condition {
  key: Key;
  not: boolean;
  values: string[];
}

const PREFIX_KEYS = new Set<Key>(['caller_id_number']);

/** Kazoo's semantics, computed here: any-of values; `*` ends a prefix on number fields;
 * filter_not also matches rows without the field. */
function matches(doc: Doc, c: Condition): boolean {
  const field = doc[c.key];
  const hit =
    field !== undefined &&
    c.values.some((v) =>
      PREFIX_KEYS.has(c.key) && v.endsWith('*') ? field.startsWith(v.slice(0, -1)) : field === v,
    );
  return c.not ? !hit : hit;
}

const valueFor: Record<Key, string[]> = {
  caller_id_name: NAMES,
  callee_id_name: NAMES,
  caller_id_number: [...NUMBERS, '+1415*', '1415*', '%*', '$*', '+44*', '*'],
  hangup_cause: CAUSES,
};

const condition = fc
  .constantFrom<Key>('caller_id_name', 'callee_id_name', 'caller_id_number', 'hangup_cause')
  .chain((key) =>
    fc.record({
      key: fc.constant(key),
      not: fc.boolean(),
      values: fc.uniqueArray(fc.oneof(fc.constantFrom(...valueFor[key]), fc.constantFrom(...HOSTILE)), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  );

function query(conditions: Condition[]): string {
  const params = new URLSearchParams({
    created_from: String(nowG - 7200),
    created_to: String(nowG),
  });
  for (const c of conditions) {
    const name = `filter_${c.not ? 'not_' : ''}${c.key}`;
    params.append(name, c.values.length === 1 ? c.values[0] : JSON.stringify(c.values));
  }
  return params.toString();
}

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.base}/v2/accounts/${b.account_id}/cdrs${path}`, {
    headers: { 'X-Auth-Token': b.api_key },
  });
  return { status: res.status, body: await res.text() };
}

test('every filter combination returns exactly the caller’s own matching rows', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(condition, { minLength: 1, maxLength: 3, selector: (c) => `${c.key}/${c.not}` }),
      async (conditions) => {
        // Two conditions on the same key and op would be one parameter twice; the selector
        // keeps them apart so the expected set is unambiguous.
        const expected = bDocs
          .filter((d) => conditions.every((c) => matches(d, c)))
          .map((d) => d.call_id)
          .sort();
        const q = query(conditions);

        const all = await get(`?${q}&paginate=false`);
        assert.equal(all.status, 200, all.body);
        const ids = (JSON.parse(all.body) as { data: { call_id: string }[] }).data
          .map((d) => d.call_id)
          .sort();
        assert.deepEqual(ids, expected, q);

        const paged: string[] = [];
        let startKey: string | undefined;
        for (let page = 0; page < 20; page++) {
          const res = await get(
            `?${q}&page_size=40${startKey ? `&start_key=${encodeURIComponent(startKey)}` : ''}`,
          );
          const doc = JSON.parse(res.body) as { data: { call_id: string }[]; next_start_key?: string };
          paged.push(...doc.data.map((d) => d.call_id));
          startKey = doc.next_start_key;
          if (!startKey) break;
        }
        assert.deepEqual(paged.sort(), expected, `paged ${q}`);

        const csv = await get(`?${q}&accept=csv`);
        assert.equal(csv.status, 200);
        const lines = csv.body.split('\n').filter(Boolean);
        const col = lines[0].split(',').indexOf('call_id');
        assert.deepEqual(
          lines
            .slice(1)
            .map((l) => l.split(',')[col])
            .sort(),
          expected,
          `csv ${q}`,
        );

        const summary = await get(`/summary?${q}`);
        assert.equal((JSON.parse(summary.body) as { data: { calls: number } }).data.calls, expected.length);
      },
    ),
    { numRuns: RUNS },
  );
});
