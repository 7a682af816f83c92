// Promise (issue 16): an export copied as several time slices on several connections is the
// single COPY's file, row for row, once gunzipped: same rows, same order, one header, including
// rows of equal time_start on a slice boundary and slices with no rows; and every slice reads
// the same snapshot, so a row committed while the export starts is in none of them.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import pino from 'pino';
import { sliceFilePath, tempFilePath, writeExportFile } from '../../src/export/export-file.js';
import { sweepExportFiles } from '../../src/export/retention.js';
import { accountDb } from '../../src/store/account-db.js';
import { ensureMonthPartitions } from '../../src/store/partitions.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import type { ExportCollection, ExportRow } from '../../src/store/queries/exports.js';
import { createTestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const masterKey = randomBytes(32);
const account = await createAccount(db.pool, masterKey, 'slices');
const other = await createAccount(db.pool, masterKey, 'other');
const exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-slices-'));
after(() => fs.rmSync(exportDir, { recursive: true, force: true }));

const MONTH = Date.UTC(2026, 0, 1);
const HOUR = 3600_000;
// The rows span [T, T + 4 h], so 4 slices are cut at T + 1 h, T + 2 h and T + 3 h.
const T = MONTH + 10 * 24 * HOUR;
await ensureMonthPartitions(db.pool, [new Date(MONTH)]);

async function insert(accountId: string, at: number, callId: string, attempt = 1): Promise<void> {
  await db.pool.query(
    `insert into cdrs (account_id, kind, time_start, call_id, attempt, status, source)
     values ($1, 'cdr_in', $2, $3, $4, 'Success', 'test')`,
    [accountId, new Date(at), callId, attempt],
  );
}

// Equal timestamps at the first row, on the T + 1 h boundary (call ids and attempts out of
// order), a millisecond either side of it, none in [T + 2 h, T + 3 h), and the last row at T + 4 h.
const rows: [number, string, number?][] = [
  [T, 'c'],
  [T, 'a'],
  [T, 'b'],
  [T + HOUR - 1, 'before-cut'],
  [T + HOUR, 'z'],
  [T + HOUR, 'm', 2],
  [T + HOUR, 'm', 1],
  [T + HOUR, 'a'],
  [T + HOUR, 'q'],
  [T + HOUR + 1, 'after-cut'],
  [T + 1.5 * HOUR, 'middle'],
  [T + 2 * HOUR - 1, 'end-of-second'],
  [T + 3 * HOUR, 'fourth'],
  [T + 4 * HOUR, 'last'],
];
for (const [at, callId, attempt] of rows) await insert(account.account_id, at, callId, attempt);
// Another account's rows at the same instants: never in this account's file.
for (const [at, callId] of rows.slice(0, 6)) await insert(other.account_id, at, `other-${callId}`);

function exportOf(dialect: ExportCollection, from = MONTH, to = Date.UTC(2026, 1, 1)): ExportRow {
  return {
    id: randomBytes(16).toString('hex'),
    account_id: account.account_id,
    dialect,
    export_type: 'cdr_in',
    range_from: new Date(from),
    range_to: new Date(to),
    did_number: null,
    voice_out_trunk_id: null,
  } as ExportRow;
}

/** Exports on `slices` connections; returns the file's text (gunzipped) and what was reported. */
async function exportText(exp: ExportRow, slices: number, beforeCopy?: () => Promise<void>) {
  // streams() takes extra connections only while the pool has room at that moment: wait for the
  // previous export's connections (a COMMIT after the answer) to be back first.
  await waitFor(async () => db.app.totalCount === db.app.idleCount || undefined, 'the pool to be idle');
  const readers = await accountDb(db.app, exp.account_id).streams(slices);
  assert.equal(readers.length, slices, 'the pool had room for every slice');
  let written;
  try {
    await beforeCopy?.();
    const tmp = path.join(exportDir, `.tmp-${exp.id}-${slices}`);
    written = await writeExportFile(
      readers.map((r) => r.client),
      exp,
      exportDir,
      tmp,
      new AbortController().signal,
    );
    for (const r of readers) r.done();
  } catch (err) {
    for (const r of readers) r.done(err as Error);
    throw err;
  }
  const bytes = fs.readFileSync(path.join(exportDir, written.fileName));
  assert.equal(written.size, bytes.length);
  assert.equal(written.sha256, createHash('sha256').update(bytes).digest('hex'));
  const text = (exp.dialect === 'exports' ? zlib.gunzipSync(bytes) : bytes).toString('utf8');
  return { text, rows: written.rows };
}

for (const dialect of ['exports', 'cdr_exports'] as const) {
  test(`${dialect}: 2, 3, 4 and 7 slices give the single COPY's file, row for row`, async () => {
    const exp = exportOf(dialect);
    const single = await exportText(exp, 1);
    const lines = single.text.trimEnd().split('\n');
    assert.equal(lines.length, rows.length + 1, 'a header and every row of the account');
    assert.equal(single.rows, rows.length);
    for (const slices of [2, 3, 4, 7]) {
      const sliced = await exportText(exp, slices);
      assert.equal(sliced.text, single.text, `${slices} slices`);
      assert.equal(sliced.rows, rows.length, `${slices} slices: the row count`);
    }
    if (dialect === 'cdr_exports') return; // its columns have no call id
    // The order the single COPY gives: time_start, then call id, then attempt.
    const callId = lines[0].split(',').findIndex((name) => /call.?id/i.test(name));
    const ids = lines.slice(1).map((l) => l.split(',')[callId]);
    assert.deepEqual(ids.slice(0, 3), ['a', 'b', 'c']);
    assert.deepEqual(ids.slice(4, 10), ['a', 'm', 'm', 'q', 'z', 'after-cut']);
  });
}

test('an export with no rows is its header alone, on any number of slices', async () => {
  const exp = exportOf('exports', MONTH, MONTH + 24 * HOUR);
  const single = await exportText(exp, 1);
  assert.equal(single.text.split('\n').length, 2, 'a header line and its newline');
  assert.equal((await exportText(exp, 4)).text, single.text);
});

test('every slice reads one snapshot: a row committed after the export began is in none', async () => {
  const exp = exportOf('exports');
  const before = await exportText(exp, 1);
  // The readers' transactions are open; this row is committed before any slice's first query.
  const sliced = await exportText(exp, 4, () => insert(account.account_id, T + 3.5 * HOUR, 'late'));
  assert.equal(sliced.text, before.text);
  assert.equal(sliced.rows, rows.length);
  const after = await exportText(exp, 4);
  assert.equal(after.rows, rows.length + 1, 'the next export has it');
});

test("the retention sweep keeps a live export's slice files and removes a dead one's", async () => {
  const { rows: jobs } = await db.pool.query<{ id: string; lease_token: string }>(
    `insert into jobs (task, account_id, lease_token, locked_until)
     values ('export', $1, gen_random_uuid(), now() + interval '1 minute') returning id, lease_token`,
    [account.account_id],
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-sweep-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const live = path.basename(tempFilePath(dir, jobs[0].id, jobs[0].lease_token));
  const dead = path.basename(tempFilePath(dir, '999999', randomUUID()));
  const names = [live, sliceFilePath(live, 1), sliceFilePath(live, 3), dead, sliceFilePath(dead, 1)];
  for (const name of names) fs.writeFileSync(path.join(dir, name), 'part');
  await sweepExportFiles(db.pool, dir, 30, pino({ level: 'silent' }));
  assert.deepEqual(fs.readdirSync(dir).sort(), names.slice(0, 3).sort());
});
