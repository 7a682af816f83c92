// Promise (issue 18): a task completes through one call, ctx.complete(client), fenced on its lease.
// A worker whose lease another worker took over cannot complete the job: the call throws, the
// transaction that published its result rolls back, and the job stays with its new holder.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { LeaseLostError } from '../../src/errors.js';
import { jobCompletion } from '../../src/jobs/completion.js';
import { TASK } from '../../src/store/names.js';
import { claimJobs, enqueueJob, type Job } from '../../src/store/queries/jobs.js';
import { withTransaction } from '../../src/store/transaction.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();

async function claimOne(): Promise<Job> {
  await enqueueJob(db.pool, TASK.export, { export_id: randomUUID() }, { accountId: 'a'.repeat(32) });
  const [job] = await claimJobs(db.pool, {
    tasks: [TASK.export],
    limit: 1,
    workerId: 'worker-1',
    leaseMs: 60_000,
    exportsPerAccount: 1,
  });
  assert.ok(job, 'a job was claimed');
  return job;
}

/** Publishes a marker row and completes the job in one transaction, as a task does. */
function publishAndComplete(job: Job, marker: string) {
  const completion = jobCompletion(job);
  const run = withTransaction(db.pool, async (client) => {
    await client.query('insert into completion_markers (name) values ($1::text)', [marker]);
    await completion.complete(client);
  });
  return { run, completion };
}

async function jobToken(id: string): Promise<string | undefined> {
  const { rows } = await db.pool.query('select lease_token from jobs where id = $1::bigint', [id]);
  return rows[0]?.lease_token;
}

async function markers(name: string): Promise<number> {
  const { rows } = await db.pool.query(
    'select count(*)::int as n from completion_markers where name = $1::text',
    [name],
  );
  return rows[0].n;
}

test.before(() => db.pool.query('create table completion_markers (name text not null)'));

test('the lease holder completes its job with its result', async () => {
  const job = await claimOne();
  const { run, completion } = publishAndComplete(job, 'held');
  await run;
  assert.equal(completion.done, true);
  assert.equal(await jobToken(job.id), undefined, 'the job row is gone');
  assert.equal(await markers('held'), 1, 'the result is published');
});

test('a stale lease cannot complete: nothing is published and the job stays with its new holder', async () => {
  const job = await claimOne();
  // Another worker took the job over after this one's lease expired: a new token.
  const newToken = randomUUID();
  await db.pool.query('update jobs set lease_token = $2::uuid where id = $1::bigint', [job.id, newToken]);
  const { run, completion } = publishAndComplete(job, 'stale');
  await assert.rejects(run, LeaseLostError);
  assert.equal(completion.done, false);
  assert.equal(await jobToken(job.id), newToken, 'the job row is still there, with the new holder');
  assert.equal(await markers('stale'), 0, "the stale worker's result was rolled back");
});
