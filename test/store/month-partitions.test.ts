// A month's partition is made by ATTACH under a 2 s lock_timeout (migration 3), so a load never
// queues behind a long reader; the caller tries again after a pause. Here a transaction holds
// the lock ATTACH needs for longer than one try may wait, and two loads want the same new month
// at once: both end with the partition made once, neither fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureMonthPartitions, partitionNames } from '../../src/store/partitions.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();

test('two loads wanting a month while its parent is locked past one try: both wait it out, one partition', async () => {
  const month = new Date(Date.UTC(2020, 0, 15));
  assert.equal((await partitionNames(db.pool)).has('cdrs_2020_01'), false);
  const holder = await db.pool.connect();
  try {
    await holder.query('begin');
    // ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on cdrs: the same mode conflicts with it.
    await holder.query('lock table cdrs in share update exclusive mode');
    const loads = [ensureMonthPartitions(db.worker, [month]), ensureMonthPartitions(db.worker, [month])];
    const settled = Promise.allSettled(loads);
    // Longer than the 2 s one try may wait: each load has met lock_timeout at least once.
    await new Promise((r) => setTimeout(r, 2500));
    await holder.query('commit');
    const results = await settled;
    assert.deepEqual(
      results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'made')),
      ['made', 'made'],
    );
  } finally {
    holder.release();
  }
  assert.equal((await partitionNames(db.pool)).has('cdrs_2020_01'), true);
});
