// Promise (issue 11, fair sharing): claims take accounts in turn. Among runnable exports the
// account with the fewest running exports goes first, then the oldest runnable export; the
// per-account cap counts running exports across every worker of the cluster. Claims are made
// directly with claimJobs, as workers would, so the order is observed, never timed.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeEach, test } from 'node:test';
import { claimJobs, enqueueJob, type Job } from '../../src/store/queries/jobs.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();
const A = randomBytes(16).toString('hex');
const B = randomBytes(16).toString('hex');

beforeEach(async () => {
  await db.pool.query('delete from jobs');
  // A queues ten exports, then B queues one: B's is the newest of all.
  for (let i = 0; i < 10; i++)
    await enqueueJob(db.pool, 'export', { export_id: randomUUID() }, { accountId: A });
  await enqueueJob(db.pool, 'export', { export_id: randomUUID() }, { accountId: B });
});

/** One claim by the named worker (each worker is a process of the cluster). */
function claim(workerId: string, limit: number): Promise<Job[]> {
  return claimJobs(db.pool, {
    tasks: ['export'],
    limit,
    workerId,
    leaseMs: 60_000,
    exportsPerAccount: 3,
  });
}

test("with two slots free, B's one export is claimed beside A's first, before A's second", async () => {
  const first = await claim('worker-1', 2);
  assert.deepEqual(first.map((j) => j.account_id).sort(), [A, B].sort());
});

test('claims one at a time alternate accounts, then stop at the cap counted across workers', async () => {
  const order: string[] = [];
  for (let i = 0; i < 8; i++) {
    // Each claim by a different worker: the cap and the turn count running exports cluster-wide.
    const jobs = await claim(`worker-${i}`, 1);
    if (jobs.length === 0) break;
    order.push(jobs[0].account_id === A ? 'A' : 'B');
  }
  assert.deepEqual(order, ['A', 'B', 'A', 'A'], "B's export before A's 3rd; A stops at its cap of 3");
  const { rows } = await db.pool.query<{ n: number }>(
    'select count(*)::int as n from jobs where account_id = $1 and locked_until >= now()',
    [A],
  );
  assert.equal(rows[0].n, 3);
});

test('a finished export frees its slot for the account with the fewest running, not the oldest job', async () => {
  const jobs = [...(await claim('worker-1', 2)), ...(await claim('worker-2', 1))]; // A1, B1, A2
  assert.deepEqual(jobs.map((j) => j.account_id).sort(), [A, A, B].sort());
  // A third account queues after all of them; it has nothing running, so it goes before A's 3rd.
  const C = randomBytes(16).toString('hex');
  await enqueueJob(db.pool, 'export', { export_id: randomUUID() }, { accountId: C });
  const next = await claim('worker-3', 1);
  assert.equal(next[0]?.account_id, C);
});
