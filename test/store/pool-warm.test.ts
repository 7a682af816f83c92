// Promise (issue 16): the API pool keeps warm connections open however long they sit idle, so the
// first request after a quiet spell does not pay a new backend's catalog loading and planning.
// The idle timeout is made tiny so that the test waits milliseconds; nothing here is timed.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();
const IDLE_MS = 10;

/** Opens `pool`'s connections up to `count` at once, returns their backends' pids, releases them. */
async function openAll(pool: ReturnType<typeof createPool>, count: number): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => pool.connect()));
  const pids = await Promise.all(
    clients.map(async (c) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid),
  );
  clients.forEach((c) => c.release());
  return pids;
}

/** Waits (polling, bounded) until the pool has closed its idle connections down to `count`. */
async function settlesAt(pool: ReturnType<typeof createPool>, count: number): Promise<void> {
  for (let i = 0; i < 500 && pool.totalCount > count; i++) await sleep(IDLE_MS);
  await sleep(IDLE_MS * 10); // ten idle timeouts more: nothing else may close
}

test('connections beyond `warm` close when idle, the warm ones stay open and are reused', async (t) => {
  const pool = createPool(db.url, undefined, { max: 4, warm: 2, idleTimeoutMs: IDLE_MS });
  t.after(() => pool.end());
  const opened = await openAll(pool, 4);
  await settlesAt(pool, 2);
  assert.equal(pool.totalCount, 2);
  const reused = await openAll(pool, 2);
  for (const pid of reused) assert.ok(opened.includes(pid), `backend ${pid} is one opened before`);
});

test('without `warm`, every idle connection closes (the control)', async (t) => {
  const pool = createPool(db.url, undefined, { max: 4, idleTimeoutMs: IDLE_MS });
  t.after(() => pool.end());
  await openAll(pool, 4);
  await settlesAt(pool, 0);
  assert.equal(pool.totalCount, 0);
});
