// CDR retention: the standing job (`cdrex worker --once` runs it) drops whole month partitions past
// the longest retention in effect and deletes the older rows of accounts that keep less, expiring
// export files of removed rows; `cdrex cdrs purge` does it by hand (dry run first), never inside
// the last three months. Month arithmetic is taken from one "now", so runs near a month's end agree.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { importDidwwCsv } from '../../src/ingest/didww-csv.js';
import { generateCsv } from '../../src/ingest/generate.js';
import {
  addMonths,
  ensureMonthPartitions,
  monthStart,
  partitionName,
  partitionNames,
} from '../../src/store/partitions.js';
import { cdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { TEST_MASTER_KEY, testEnv } from '../helpers/server.js';
import { createAccount } from '../../src/store/queries/accounts.js';

const NOW = new Date();
const M = monthStart(NOW);
const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-retention-'));
const exportDir = path.join(dataDir, 'exports');
fs.mkdirSync(exportDir, { recursive: true });
const masterKey = TEST_MASTER_KEY;
const alice = await createAccount(db.pool, masterKey, 'alice'); // global retention
const bob = await createAccount(db.pool, masterKey, 'bob'); // keeps 4 months
const carol = await createAccount(db.pool, masterKey, 'carol'); // purged by hand
await db.pool.query('update accounts set retention_months = 4 where id = $1::text', [bob.account_id]);

const OLD = [-8, -6, -5, -1].map((k) => addMonths(M, k));
await ensureMonthPartitions(db.pool, OLD);
for (const [i, account] of [alice, bob, carol].entries())
  for (const month of OLD) {
    const csv = generateCsv({ kind: 'cdr_in', month, rows: 20, seed: i + 1, now: NOW });
    await importDidwwCsv(db.pool, csv, { accountId: account.account_id, kind: 'cdr_in', source: 'generate' });
  }

async function rows(account: string, month: Date): Promise<number> {
  const { rows: r } = await db.pool.query<{ n: string }>(
    `select count(*) as n from cdrs where account_id = $1::text and time_start >= $2::timestamptz
        and time_start < $3::timestamptz`,
    [account, month, addMonths(month, 1)],
  );
  return Number(r[0].n);
}

/** A completed export of one month with its file on disk. */
async function completedExport(account: string, month: Date): Promise<{ id: string; file: string }> {
  const id = randomUUID();
  const fileName = `${randomUUID()}.csv.gz`;
  await db.pool.query(
    `insert into exports (id, account_id, dialect, export_type, filters, range_from, range_to, status, completed_at)
     values ($1::uuid, $2::text, 'exports', 'cdr_in', '{}', $3::timestamptz, $4::timestamptz, 'completed', now())`,
    [id, account, month, addMonths(month, 1)],
  );
  await db.pool.query(
    `insert into export_files (id, export_id, account_id, file_name, size, sha256)
     values ($1::uuid, $2::uuid, $3::text, $4::text, 1, 'x')`,
    [randomUUID(), id, account, fileName],
  );
  const file = path.join(exportDir, fileName);
  fs.writeFileSync(file, 'x');
  return { id, file };
}

async function liveFile(exportId: string): Promise<boolean> {
  const { rows: r } = await db.pool.query(
    'select 1 from export_files where export_id = $1::uuid and deleted_at is null',
    [exportId],
  );
  return r.length > 0;
}

const env = { ...testEnv(db, dataDir), CDREX_CDR_RETENTION_MONTHS: '6' };
const [m8, m6, m5, m1] = OLD;

test('every month has rows before the job runs', async () => {
  for (const a of [alice, bob, carol]) for (const m of OLD) assert.ok((await rows(a.account_id, m)) > 0);
});

test('the standing job drops months past the longest retention and trims accounts that keep less', async () => {
  const bobOld = await completedExport(bob.account_id, m5);
  const aliceOld = await completedExport(alice.account_id, m5);
  const aliceGone = await completedExport(alice.account_id, m8);
  const before = { alice5: await rows(alice.account_id, m5), bob1: await rows(bob.account_id, m1) };

  const run = await cdrex(['worker', '--once'], { ...env, LOG_LEVEL: 'info' });
  assert.equal(run.code, 0, run.stderr);
  const logged = run.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; retention?: { partitions: number; rows: number } })
    .find((l) => l.msg === 'retention applied');
  assert.ok(logged?.retention, run.stderr);
  assert.equal(logged.retention.partitions, 1);

  const partitions = await partitionNames(db.pool);
  assert.ok(!partitions.has(partitionName(m8)), 'the month past every retention is dropped whole');
  assert.ok(partitions.has(partitionName(m6)) && partitions.has('cdrs_default'));
  for (const a of [alice, bob, carol]) assert.equal(await rows(a.account_id, m8), 0);
  // Global 6 months: alice keeps m-6 and m-5. Bob keeps 4: his m-6 and m-5 are deleted.
  assert.equal(await rows(alice.account_id, m5), before.alice5);
  assert.ok((await rows(alice.account_id, m6)) > 0);
  assert.equal(await rows(bob.account_id, m6), 0);
  assert.equal(await rows(bob.account_id, m5), 0);
  assert.equal(await rows(bob.account_id, m1), before.bob1);

  // Files of removed rows expire (url null, file deleted); alice's m-5 file stays.
  assert.equal(await liveFile(bobOld.id), false);
  assert.ok(!fs.existsSync(bobOld.file));
  assert.equal(await liveFile(aliceGone.id), false);
  assert.equal(await liveFile(aliceOld.id), true);
  assert.ok(fs.existsSync(aliceOld.file));

  // Audited: the dropped partition (no account) and bob's deleted rows, by the job.
  const audit = await db.pool.query<{ account_id: string | null; detail: Record<string, unknown> }>(
    "select account_id, detail from audit_log where action = 'cdrs.purged' and actor = 'job:cdr-retention' order by id",
  );
  assert.deepEqual(
    audit.rows.map((r) => [r.account_id, r.detail.partition ?? r.detail.before]),
    [
      [null, partitionName(m8)],
      [bob.account_id, addMonths(M, -4).toISOString().slice(0, 7)],
    ],
  );
});

test('cdrs purge: a dry run counts, the real run removes and prints the same, the last three months stay', async () => {
  const carol6 = await rows(carol.account_id, m6);
  const args = ['cdrs', 'purge', '--before', m5.toISOString().slice(0, 7), '--account', carol.account_id];
  const dry = await cdrex([...args, '--dry-run'], env);
  assert.equal(dry.code, 0, dry.stderr);
  const dryLines = dry.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(dryLines, [
    { account_id: carol.account_id, before: m5.toISOString().slice(0, 7), rows: carol6 },
    { totals: { partitions: 0, rows: carol6, export_files: 0, dry_run: true } },
  ]);
  assert.equal(await rows(carol.account_id, m6), carol6, 'a dry run removes nothing');

  const real = await cdrex(args, env);
  assert.equal(real.code, 0, real.stderr);
  assert.deepEqual(JSON.parse(real.stdout.trim().split('\n')[0]), dryLines[0]);
  assert.equal(await rows(carol.account_id, m6), 0);
  assert.ok((await rows(carol.account_id, m5)) > 0);
  assert.ok((await rows(alice.account_id, m6)) > 0, "another account's rows stay");

  // Every account's: whole partitions, one line each, then the totals.
  const all = await cdrex(['cdrs', 'purge', '--before', m5.toISOString().slice(0, 7)], env);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const { rows: dropped, ...line } = lines[0];
  assert.deepEqual(line, {
    partition: partitionName(m6),
    month: m6.toISOString().slice(0, 7),
    dropped: true,
  });
  assert.ok((dropped as number) > 0);
  assert.deepEqual(lines.at(-1), {
    totals: { partitions: 1, rows: dropped, export_files: 0, dry_run: false },
  });
  assert.ok(!(await partitionNames(db.pool)).has(partitionName(m6)));

  // Inside the last three months: refused before anything is touched.
  const recent = await cdrex(['cdrs', 'purge', '--before', addMonths(M, -2).toISOString().slice(0, 7)], env);
  assert.equal(recent.code, 2);
  assert.match(recent.stderr, /last three months/);
  assert.ok((await partitionNames(db.pool)).has(partitionName(m1)));
});

test('the database refuses to drop a month of the last three, whoever asks', async () => {
  await assert.rejects(
    db.worker.query('select cdrex_drop_month_partition($1::date)', [
      addMonths(M, -1).toISOString().slice(0, 10),
    ]),
    /inside the three months/,
  );
  await assert.rejects(
    db.app.query('select cdrex_drop_month_partition($1::date)', ['2001-01-01']),
    /permission denied/,
  );
});
