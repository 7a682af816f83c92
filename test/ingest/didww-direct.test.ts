// The direct path of a DIDWW CSV import (src/ingest/didww-scan.ts): a file that can be read twice
// is COPYed straight into `cdrs`, and whatever the scan cannot vouch for, or PostgreSQL refuses,
// goes through the staging path instead. Each file here is loaded twice, once able to take the
// direct path (account A) and once not (account B, the staging path as before), and both must
// store the same rows, or fail with the same error and store nothing. The cases that must leave
// the direct path are each one way a COPY straight into `cdrs` would store what staging refuses,
// or put a row where it does not belong (the DEFAULT partition).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { columnsFor, headerLine } from '../../src/formats/didww-csv.js';
import { importDidwwCsv, type ImportResult } from '../../src/ingest/didww-csv.js';
import {
  addMonths,
  ensureMonthPartitions,
  monthStart,
  partitionName,
  partitionNames,
} from '../../src/store/partitions.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import type { CdrKind } from '../../src/store/queries/cdrs.js';
import { createTestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEY } from '../helpers/server.js';

const db = await createTestDatabase();
const masterKey = TEST_MASTER_KEY;
const NOW = new Date();
const MONTH = monthStart(NOW);
const WINDOW = { from: addMonths(MONTH, -6), to: new Date(NOW.getTime() + 3600_000) };
const TRUNK = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** `YYYY-MM-DD HH:MM:SS` of a moment `s` seconds into this month. */
const at = (s: number) => new Date(MONTH.getTime() + s * 1000).toISOString().slice(0, 19).replace('T', ' ');

interface Loaded {
  result?: ImportResult;
  error?: { name: string; message: string; line?: number };
  rows: unknown[];
}

let accounts = 0;
/** Loads `bytes` (cut into `chunks` at the given offsets) for a new account, able to take the
 * direct path or not; answers what it returned or threw, and the rows the account now has. */
async function load(
  bytes: Buffer,
  options: { kind?: CdrKind; direct: boolean; cuts?: number[]; voiceOutTrunkId?: string },
): Promise<Loaded> {
  const account = await createAccount(db.pool, masterKey, `direct-${++accounts}`);
  const cuts = [
    ...new Set([0, ...(options.cuts ?? []).map((c) => c % (bytes.length + 1)), bytes.length]),
  ].sort((a, b) => a - b);
  const open = () => Readable.from(cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end)));
  const loaded: Loaded = { rows: [] };
  try {
    loaded.result = await importDidwwCsv(db.worker, open(), {
      accountId: account.account_id,
      kind: options.kind ?? 'cdr_in',
      voiceOutTrunkId: options.voiceOutTrunkId,
      window: WINDOW,
      reopen: options.direct ? () => Promise.resolve(open()) : undefined,
    });
  } catch (err) {
    const e = err as Error & { line?: number };
    loaded.error = { name: e.name, message: e.message, line: e.line };
  }
  const { rows } = await db.pool.query(
    `select to_jsonb(c) - 'account_id' - 'inserted_at' as row from cdrs c where account_id = $1::text
      order by time_start, call_id, attempt, kind`,
    [account.account_id],
  );
  loaded.rows = rows.map((r: { row: unknown }) => r.row);
  return loaded;
}

/** Loads `bytes` both ways; asserts they agree, and that the direct one took `path` (or failed). */
async function bothWays(
  bytes: Buffer,
  path: 'direct' | 'staging',
  options: { kind?: CdrKind; cuts?: number[]; voiceOutTrunkId?: string } = {},
) {
  const direct = await load(bytes, { ...options, direct: true });
  const staged = await load(bytes, { ...options, direct: false });
  assert.deepEqual(direct.error, staged.error);
  assert.deepEqual(direct.rows, staged.rows);
  if (staged.result) {
    assert.equal(staged.result.path, 'staging');
    assert.deepEqual({ ...direct.result, path: undefined }, { ...staged.result, path: undefined });
    assert.equal(direct.result?.path, path);
  }
  assert.equal(await defaultRows(), 0, 'nothing in the DEFAULT partition');
  return direct;
}

async function defaultRows(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from cdrs_default');
  return rows[0].n;
}

/** A CSV cell: unquoted when it can be, else quoted with its quotes doubled; null is an unquoted
 * empty cell (NULL), '' a quoted one (an empty text). */
function cell(value: string | number | null, quote = false): string {
  if (value === null) return '';
  const text = String(value);
  return quote || text === '' || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

type Row = Record<string, string | number | null>;

/** A file of `kind` from rows keyed by column (missing columns are NULL). */
function csv(
  kind: CdrKind,
  rows: Row[],
  opts: { eol?: string; finalEol?: boolean; quoteAll?: boolean } = {},
) {
  const eol = opts.eol ?? '\n';
  const columns = columnsFor(kind);
  const lines = [
    headerLine(columns),
    ...rows.map((r) => columns.map((c) => cell(r[c.column] ?? null, opts.quoteAll)).join(',')),
  ];
  return Buffer.from(lines.join(eol) + (opts.finalEol === false ? '' : eol), 'utf8');
}

const inbound = (i: number, extra: Row = {}): Row => ({
  time_start: at(3600 + i * 60),
  time_connect: at(3605 + i * 60),
  time_end: at(3650 + i * 60),
  status: 'Success',
  source_number: `4930${1000 + i}`,
  duration_s: 45,
  attempt: 1,
  cost: '0.0123',
  call_id: `call-${i}`,
  ...extra,
});

const outbound = (i: number, extra: Row = {}): Row => ({
  time_start: at(7200 + i * 60),
  status: 'Failed',
  cli: `4930${2000 + i}`,
  destination: `4420${3000 + i}`,
  duration_s: 0,
  billing_s: 0,
  trunk_name: i % 2 === 0 ? TRUNK.toUpperCase() : 'trunk by name',
  rate: '0.0060',
  call_id: `out-${i}`,
  ...extra,
});

// Text a cell may hold: CSV's own characters, line ends, SQL and COPY text-format look-alikes,
// and characters of 1 to 4 UTF-8 bytes.
const hostileText = fc.string({
  unit: fc.constantFrom(
    '"',
    ',',
    '\n',
    '\r',
    '\r\n',
    '\\',
    '\\N',
    '$1',
    "'",
    ';',
    'a',
    'Z',
    ' ',
    'é',
    '€',
    '😀',
    '\t',
  ),
  maxLength: 12,
});

test('well-formed files take the direct path and store exactly what the staging path stores', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<CdrKind>('cdr_in', 'cdr_out'),
      fc.array(
        fc.record({
          name: fc.option(hostileText),
          code: fc.option(hostileText),
          trunk: fc.option(fc.oneof(hostileText, fc.constant(TRUNK), fc.constant(TRUNK.toUpperCase()))),
          quote: fc.boolean(),
          answered: fc.boolean(),
          duration: fc.nat(7200),
          attempt: fc.integer({ min: 1, max: 3 }),
        }),
        { maxLength: 25 },
      ),
      fc.constantFrom('\n', '\r\n'),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 6 }),
      async (kind, specs, eol, finalEol, cuts) => {
        const rows = specs.map((s, i) => {
          const base = kind === 'cdr_in' ? inbound(i) : outbound(i);
          return {
            ...base,
            time_connect: s.answered ? at(3605 + i * 60) : null,
            time_end: s.answered ? at(3650 + i * 60) : null,
            source_name: s.name,
            disconnect_code: s.code,
            trunk_name: s.trunk,
            duration_s: s.duration,
            attempt: s.attempt,
          };
        });
        // Quoting a cell that needs none (`quoteAll`) is the same value: every text may be quoted.
        const bytes = csv(kind, rows, { eol, finalEol, quoteAll: specs[0]?.quote });
        await bothWays(bytes, 'direct', { kind, cuts });
      },
    ),
    { numRuns: 40 },
  );
});

test('a row outside the ingestion window, even the last one, stores nothing', async () => {
  const late = new Date(WINDOW.to.getTime() + 1000).toISOString().slice(0, 19).replace('T', ' ');
  for (const column of ['time_start', 'time_connect', 'time_end']) {
    const rows = [inbound(0), inbound(1), inbound(2, { [column]: late })];
    const { error, rows: stored } = await bothWays(csv('cdr_in', rows), 'staging');
    assert.equal(error?.name, 'DataError', column);
    assert.equal(error?.line, 4);
    assert.equal(stored.length, 0);
  }
  const early = addMonths(MONTH, -7).toISOString().slice(0, 19).replace('T', ' ');
  const { error } = await bothWays(csv('cdr_in', [inbound(0), inbound(1, { time_end: early })]), 'staging');
  assert.equal(error?.line, 3);
});

test('a month without its partition is made, and its rows go there, not to DEFAULT', async () => {
  // Four months back has no partition (the defaults are the last three months and two ahead).
  const old = addMonths(MONTH, -4);
  assert.ok(!(await partitionNames(db.pool)).has(partitionName(old)));
  const day = (d: number) =>
    new Date(old.getTime() + d * 86400_000).toISOString().slice(0, 19).replace('T', ' ');
  const rows = [inbound(0, { time_start: day(2), time_connect: null, time_end: null }), inbound(1)];
  const direct = await load(csv('cdr_in', rows), { direct: true });
  assert.equal(direct.result?.path, 'staging');
  assert.equal(direct.result?.inserted, 2);
  assert.ok((await partitionNames(db.pool)).has(partitionName(old)));
  assert.equal(await defaultRows(), 0);
});

test('times PostgreSQL reads otherwise than they print (24:00:00, leap seconds, zones, T) leave the direct path', async () => {
  const lastDay = new Date(addMonths(MONTH, 1).getTime() - 86400_000).toISOString().slice(0, 10);
  for (const time of [
    `${lastDay} 24:00:00`,
    `${lastDay} 23:59:60`,
    `${at(100).replace(' ', 'T')}`,
    `${at(100)}+02`,
    `${at(100)} UTC`,
    `${at(100)}.5`,
  ]) {
    // 24:00:00 and the leap second on the month's last day are the next month's first second:
    // a month whose partition exists (two ahead), or refused after `now`; either way not DEFAULT.
    const loaded = await bothWays(
      csv('cdr_in', [inbound(0, { time_start: time, time_connect: null, time_end: null })]),
      'staging',
    );
    if (loaded.result) assert.equal(loaded.result.inserted, 1, time);
  }
  // The same at the end of a month whose partition exists while the next one's does not: the row
  // belongs to the next month, which the staging path makes.
  const before = addMonths(MONTH, -6);
  await ensureMonthPartitions(db.pool, [before]);
  const end = new Date(addMonths(before, 1).getTime() - 86400_000).toISOString().slice(0, 10);
  for (const time of [`${end} 24:00:00`, `${end} 23:59:60`]) {
    const row = inbound(0, { time_start: time, time_connect: null, time_end: null });
    const loaded = await bothWays(csv('cdr_in', [row]), 'staging');
    assert.equal(loaded.result?.inserted, 1, time);
  }
  assert.ok((await partitionNames(db.pool)).has(partitionName(addMonths(before, 1))));
});

test('rows the staging path refuses or completes leave the direct path: the same answer', async () => {
  const files: [string, Buffer, CdrKind?][] = [
    ['a negative duration', csv('cdr_in', [inbound(0, { duration_s: -5 })])],
    ['an empty attempt (1 on the staging path)', csv('cdr_in', [inbound(0, { attempt: null }), inbound(1)])],
    ['no status', csv('cdr_in', [inbound(0, { status: null })])],
    ['a cell too many', Buffer.concat([csv('cdr_in', [inbound(0)]), Buffer.from('x,'.repeat(19) + 'x\n')])],
    [
      'a line of \\. between rows',
      Buffer.from(
        `${headerLine(columnsFor('cdr_in'))}\n${
          csv('cdr_in', [inbound(0)])
            .toString()
            .split('\n')[1]
        }\n\\.\n${
          csv('cdr_in', [inbound(1)])
            .toString()
            .split('\n')[1]
        }\n`,
      ),
    ],
    ['a quote left open', Buffer.from(`${csv('cdr_in', [inbound(0)]).toString()}${at(9000)},,,"Success\n`)],
    ['lines ended by CR alone', csv('cdr_in', [inbound(0), inbound(1)], { eol: '\r' })],
    [
      'the header quoted',
      Buffer.from(
        csv('cdr_in', [inbound(0)])
          .toString()
          .replace('Status', '"Status"'),
      ),
    ],
    [
      'another header',
      Buffer.from(
        csv('cdr_in', [inbound(0)])
          .toString()
          .replace('Status', 'State'),
      ),
    ],
    ['an empty file', Buffer.alloc(0)],
  ];
  for (const [what, bytes, kind] of files) {
    const direct = await load(bytes, { direct: true, kind });
    const staged = await load(bytes, { direct: false, kind });
    assert.deepEqual(direct.error, staged.error, what);
    assert.deepEqual(direct.rows, staged.rows, what);
    if (direct.result)
      assert.deepEqual({ ...direct.result, path: 'x' }, { ...staged.result, path: 'x' }, what);
    assert.notEqual(direct.result?.path, 'direct', what);
  }
  assert.equal(await defaultRows(), 0);
});

test('a file loaded again counts its rows as duplicates; outbound trunk ids as the staging path makes them', async () => {
  const bytes = csv('cdr_out', [outbound(0), outbound(1)]);
  const account = await createAccount(db.pool, masterKey, 'again');
  const open = () => Readable.from([bytes]);
  const options = {
    accountId: account.account_id,
    kind: 'cdr_out' as const,
    window: WINDOW,
    reopen: () => Promise.resolve(open()),
  };
  assert.deepEqual(await importDidwwCsv(db.worker, open(), options), {
    inserted: 2,
    duplicates: 0,
    path: 'direct',
  });
  assert.deepEqual(await importDidwwCsv(db.worker, open(), options), {
    inserted: 0,
    duplicates: 2,
    path: 'staging',
  });
  const { rows } = await db.pool.query<{ voice_out_trunk_id: string | null }>(
    'select voice_out_trunk_id from cdrs where account_id = $1::text order by call_id',
    [account.account_id],
  );
  assert.deepEqual(
    rows.map((r) => r.voice_out_trunk_id),
    [TRUNK, null],
  );
  // A trunk given for the load wins over the column, on both paths.
  const given = '0f0e0d0c-0b0a-4909-8807-060504030201';
  await bothWays(bytes, 'direct', { kind: 'cdr_out', voiceOutTrunkId: given.toUpperCase() });
  // An empty one is none: both paths keep the file's UUID (the staging path stored '').
  const empty = await bothWays(bytes, 'direct', { kind: 'cdr_out', voiceOutTrunkId: '' });
  assert.deepEqual(
    empty.rows.map((r) => (r as { voice_out_trunk_id: string | null }).voice_out_trunk_id),
    [TRUNK, null],
  );
});

test('outbound trunk cells, however quoted, give the trunk id the staging path gives', async () => {
  for (const raw of [
    TRUNK,
    `"${TRUNK.toUpperCase()}"`,
    `${TRUNK.slice(0, 9)}"${TRUNK.slice(9)}"`,
    `"${TRUNK.slice(0, 9)}"${TRUNK.slice(9)}""`,
    `"${TRUNK.slice(0, 9)}""${TRUNK.slice(9)}"`,
    '"trunk, by ""name"""',
    '""',
    '',
  ]) {
    const bytes = Buffer.from(
      csv('cdr_out', [outbound(0, { trunk_name: 'RAW' })])
        .toString()
        .replace('RAW', raw),
    );
    const { rows } = await bothWays(bytes, 'direct', { kind: 'cdr_out' });
    assert.equal(rows.length, 1, raw);
  }
});

test('a row longer than 1 MiB, cut over many chunks, takes the staging path and is stored whole', async () => {
  const long = 'x'.repeat(3 << 20);
  const bytes = csv('cdr_in', [inbound(0), inbound(1, { source_name: long }), inbound(2)]);
  const cuts = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => (i + 1) * 65536);
  const { rows } = await bothWays(bytes, 'staging', { cuts });
  assert.equal((rows[1] as { source_name: string }).source_name, long);
});

test('an input that fails mid-file is not read again: its error is the answer, nothing stored', async () => {
  const account = await createAccount(db.pool, masterKey, 'input-fails');
  const bytes = csv('cdr_in', [inbound(0), inbound(1), inbound(2)]);
  let reopened = 0;
  const failing = () =>
    Readable.from(
      (async function* () {
        yield bytes.subarray(0, 200);
        throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' });
      })(),
    );
  await assert.rejects(
    importDidwwCsv(db.worker, failing(), {
      accountId: account.account_id,
      kind: 'cdr_in',
      window: WINDOW,
      reopen: () => {
        reopened++;
        return Promise.resolve(failing());
      },
    }),
    { code: 'Z_BUF_ERROR' },
  );
  assert.equal(reopened, 0);
  const { rows } = await db.pool.query('select count(*)::int as n from cdrs where account_id = $1::text', [
    account.account_id,
  ]);
  assert.equal(rows[0].n, 0);
});

test("a session that reads times in another zone takes the staging path (its months are not the scan's)", async () => {
  // 00:30 on the 1st in Berlin is 23:30 UTC the day before, in the previous month.
  const berlin = new pg.Pool({ connectionString: db.roles.worker, options: '-c timezone=Europe/Berlin' });
  try {
    const account = await createAccount(db.pool, masterKey, 'berlin');
    const bytes = csv('cdr_in', [inbound(0, { time_start: at(1800), time_connect: null, time_end: null })]);
    const result = await importDidwwCsv(berlin, Readable.from([bytes]), {
      accountId: account.account_id,
      kind: 'cdr_in',
      window: WINDOW,
      reopen: () => Promise.resolve(Readable.from([bytes])),
    });
    assert.deepEqual(result, { inserted: 1, duplicates: 0, path: 'staging' });
  } finally {
    await berlin.end();
  }
  assert.equal(await defaultRows(), 0);
});
