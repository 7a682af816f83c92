// Operating the CDR retention: a run of the standing job is metered (scraped from `cdrex worker`'s
// CDREX_METRICS_PORT) and audited as a whole; dropping a month under a conflicting lock gives way
// to ingestion (each DETACH try waits at most CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS), retries, and
// after CDREX_CDR_RETENTION_LOCK_ATTEMPTS tries gives up cleanly: the month stays, the failed run
// is audited. These spawn `cdrex` from build/ (node scripts/build-server.mjs).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type pg from 'pg';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { importDidwwCsv } from '../../src/ingest/didww-csv.js';
import { generateCsv } from '../../src/ingest/generate.js';
import {
  addMonths,
  ensureMonthPartitions,
  monthStart,
  partitionName,
  partitionNames,
} from '../../src/store/partitions.js';
import { cdrex, spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort, startServer, testEnv, waitFor } from '../helpers/server.js';

const NOW = new Date();
const M = monthStart(NOW);
const db = await createTestDatabase();
// Ingestion over HTTP; no in-process worker, so only the processes below run retention.
const server = await startServer(db, { worker: false });
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-retention-ops-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const alice = await server.newAccount('alice');

const [m8, m6] = [addMonths(M, -8), addMonths(M, -6)];
await ensureMonthPartitions(db.pool, [m8, m6]);
for (const month of [m8, m6]) {
  const csv = generateCsv({ kind: 'cdr_in', month, rows: 30, seed: 7, now: NOW });
  await importDidwwCsv(db.pool, csv, { accountId: alice.account_id, kind: 'cdr_in', source: 'generate' });
}

async function rowsIn(month: Date): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(
    'select count(*) as n from cdrs where time_start >= $1::timestamptz and time_start < $2::timestamptz',
    [month, addMonths(month, 1)],
  );
  return Number(rows[0].n);
}

async function runAudits(outcome: string): Promise<{ actor: string; detail: Record<string, unknown> }[]> {
  const { rows } = await db.pool.query<{ actor: string; detail: Record<string, unknown> }>(
    `select actor, detail from audit_log where action = 'cdrs.retention_run' and detail->>'outcome' = $1::text
      order by id`,
    [outcome],
  );
  return rows;
}

/** The value of one series in a Prometheus text scrape (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

test('a run of the standing job is logged, metered on the worker /metrics and audited', async () => {
  const m8Rows = await rowsIn(m8);
  assert.ok(m8Rows > 0);
  const port = await freePort();
  // Keep 7 months: m-8 goes whole, m-6 stays.
  const env = testEnv(db, dataDir, { CDREX_CDR_RETENTION_MONTHS: '7', CDREX_METRICS_PORT: String(port) });
  const { proc, logs } = spawnCdrex(['worker'], env);
  await waitFor(
    async () => logs.some((l) => l.msg === 'retention applied'),
    `the retention run (${JSON.stringify(logs.slice(-3))})`,
  );
  const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  proc.kill('SIGTERM');
  assert.equal(sample(scrape, 'cdrex_retention_runs_total{outcome="completed"}'), 1, scrape);
  assert.equal(sample(scrape, 'cdrex_retention_partitions_dropped_total'), 1);
  assert.equal(sample(scrape, 'cdrex_retention_rows_removed_total'), m8Rows);
  assert.equal(sample(scrape, 'cdrex_retention_lock_timeouts_total'), 0);
  assert.ok(!(await partitionNames(db.pool)).has(partitionName(m8)));

  const [run, ...more] = await runAudits('completed');
  assert.equal(more.length, 0);
  assert.equal(run.actor, 'job:cdr-retention');
  assert.deepEqual(
    { partitions: run.detail.partitions, rows: run.detail.rows, drop_before: run.detail.drop_before },
    { partitions: 1, rows: m8Rows, drop_before: addMonths(M, -7).toISOString().slice(0, 7) },
  );
});

/** A transaction that holds ACCESS SHARE on cdrs (what any long query holds): a DETACH must wait
 * for it, and everything that comes after the DETACH queues behind the DETACH. */
async function holdCdrs(): Promise<pg.PoolClient> {
  const holder = await db.pool.connect();
  await holder.query('begin');
  await holder.query('lock table cdrs in access share mode');
  return holder;
}

/** True once some session waits for an ACCESS EXCLUSIVE lock on cdrs (the DETACH). */
async function detachWaiting(): Promise<boolean> {
  const { rows } = await db.pool.query(
    `select 1 from pg_locks where relation = 'cdrs'::regclass and mode = 'AccessExclusiveLock'
        and not granted`,
  );
  return rows.length > 0;
}

/** One Kazoo CDR of the last hour, uploaded: an INSERT into cdrs, which queues behind a DETACH. */
async function ingestOne(callId: string): Promise<number> {
  const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': 'application/json' },
    // Generous: without the lock timeout it would wait as long as the holder, i.e. forever.
    signal: AbortSignal.timeout(30_000),
    body: JSON.stringify({
      data: [
        {
          call_id: callId,
          timestamp: String(Math.floor(Date.now() / 1000) - 3600 + GREGORIAN_OFFSET),
          duration_seconds: '30',
          billing_seconds: '25',
          direction: 'inbound',
          caller_id_number: '+15005550100',
          callee_id_number: '+15005550101',
          custom_channel_vars: { account_id: alice.account_id },
        },
      ],
    }),
  });
  await res.text();
  return res.status;
}

test('under a conflicting lock, ingestion goes on while the purge retries, then gives up cleanly', async () => {
  const m6Rows = await rowsIn(m6);
  const holder = await holdCdrs();
  try {
    const purge = cdrex(['cdrs', 'purge', '--before', addMonths(M, -5).toISOString().slice(0, 7)], {
      ...testEnv(db, dataDir),
      CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS: '1500',
      CDREX_CDR_RETENTION_LOCK_ATTEMPTS: '2',
      LOG_LEVEL: 'warn',
    });
    await waitFor(detachWaiting, 'the DETACH to wait for its lock');
    // The upload's INSERT queues behind the waiting DETACH; it is stored while the conflicting
    // lock is still held, because the DETACH gives up its place after the lock timeout. Without
    // the timeout it would wait as long as the holder (here: forever, and the test fails).
    assert.equal(await ingestOne('during-retention'), 201);

    const result = await purge;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /Dropping cdrs_\d{4}_\d{2}: its lock was not granted in 2 tries/);
    // Each timed-out try was logged (and counted) before the retry.
    const retries = result.stderr.split('\n').filter((l) => l.includes('the partition lock was not granted'));
    assert.equal(retries.length, 2, result.stderr);
  } finally {
    await holder.query('rollback');
    holder.release();
  }
  // Nothing of the month went, and the failed run is on record with its reason.
  assert.ok((await partitionNames(db.pool)).has(partitionName(m6)));
  assert.equal(await rowsIn(m6), m6Rows);
  const { rows: stored } = await db.pool.query("select 1 from cdrs where call_id = 'during-retention'");
  assert.equal(stored.length, 1);
  const [failed] = await runAudits('failed');
  assert.equal(failed.actor, 'cli');
  assert.equal(failed.detail.partitions, 0);
  assert.match(String(failed.detail.error), /not granted in 2 tries/);
});

test('the standing job under a held lock fails cleanly and is scheduled again, not given up', async () => {
  await db.pool.query("update jobs set run_at = now() where task = 'cdr-retention'");
  const holder = await holdCdrs();
  try {
    // Keep 5 months: m-6 is due. One short try, then the run fails.
    const run = await cdrex(['worker', '--once'], {
      ...testEnv(db, dataDir),
      CDREX_CDR_RETENTION_MONTHS: '5',
      CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS: '200',
      CDREX_CDR_RETENTION_LOCK_ATTEMPTS: '1',
    });
    assert.equal(run.code, 0, run.stderr);
  } finally {
    await holder.query('rollback');
    holder.release();
  }
  const { rows } = await db.pool.query<{ last_error: string; later: boolean; dead: boolean }>(
    `select last_error, run_at > now() + interval '30 seconds' as later, dead_at is not null as dead
       from jobs where task = 'cdr-retention'`,
  );
  assert.equal(rows.length, 1);
  assert.match(rows[0].last_error, /not granted in 1 tries/);
  assert.deepEqual([rows[0].later, rows[0].dead], [true, false], 'retried in a minute, never dead');
  assert.ok((await partitionNames(db.pool)).has(partitionName(m6)), 'nothing of the month went');
  const failed = await runAudits('failed');
  assert.equal(failed.at(-1)?.actor, 'job:cdr-retention');
});

test('once the lock is released, a retry of the same run drops the month', async () => {
  const holder = await holdCdrs();
  const purge = cdrex(['cdrs', 'purge', '--before', addMonths(M, -5).toISOString().slice(0, 7)], {
    ...testEnv(db, dataDir),
    CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS: '500',
    CDREX_CDR_RETENTION_LOCK_ATTEMPTS: '1000',
  });
  // The first try waits, times out and pauses (no one waits then), and the second try waits.
  await waitFor(detachWaiting, 'the DETACH to wait for its lock');
  await waitFor(async () => !(await detachWaiting()), 'the first try to time out');
  await waitFor(detachWaiting, 'the retry to wait for its lock');
  await holder.query('rollback');
  holder.release();
  const result = await purge;
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /the partition lock was not granted in time; ingestion went on, retrying/);
  assert.ok(!(await partitionNames(db.pool)).has(partitionName(m6)));
  const completed = await runAudits('completed');
  assert.equal(completed.at(-1)?.actor, 'cli');
  assert.equal(completed.at(-1)?.detail.partitions, 1);
});
