// Promise (issue 18): a worker claims jobs while another process migrates. The claim lock and the
// migrators' lock were once the same advisory key, so a long migration stopped every claim in the
// cluster. The claim runs under a statement_timeout only so that the old behaviour fails the test
// instead of hanging it; nothing here is timed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { LOCK, TASK } from '../../src/store/names.js';
import { claimJobs, enqueueJob } from '../../src/store/queries/jobs.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();

test('jobs are claimed while a migrator holds its lock', async (t) => {
  const migrator = await db.pool.connect();
  t.after(() => migrator.release());
  await migrator.query('select pg_advisory_lock($1::bigint)', [LOCK.migrate]);
  t.after(() => migrator.query('select pg_advisory_unlock($1::bigint)', [LOCK.migrate]));
  const worker = createPool(db.url, undefined, { statementTimeoutMs: 5000 });
  t.after(() => worker.end());
  await enqueueJob(db.pool, TASK.export, { export_id: randomUUID() }, { accountId: 'a'.repeat(32) });
  const claimed = await claimJobs(worker, {
    tasks: [TASK.export],
    limit: 1,
    workerId: 'worker-1',
    leaseMs: 60_000,
    exportsPerAccount: 1,
  });
  assert.deepEqual(
    claimed.map((j) => j.task),
    [TASK.export],
  );
});

test('no two advisory-lock keys are equal', () => {
  const keys = Object.values(LOCK);
  assert.equal(new Set(keys).size, keys.length);
});
