// Promise (issue 18): withTransaction rolls back whatever fn did when fn throws, rethrows fn's
// error, and hands the client back healthy; when the rollback itself fails the client is released
// broken (release(err)), so the pool never reuses a connection in an unknown state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { withTransaction } from '../../src/store/transaction.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();
await db.pool.query('create table tx_probe (n int not null)');

/** A pool of one connection whose releases are recorded with the error each was given. */
function recordingPool() {
  const pool = createPool(db.url, undefined, { max: 1 });
  const releases: (Error | undefined)[] = [];
  pool.on('release', (err: Error | undefined) => releases.push(err));
  return { pool, releases };
}

test('a failing fn is rolled back, its error rethrown, and the client released healthy', async (t) => {
  const { pool, releases } = recordingPool();
  t.after(() => pool.end());
  const failure = new Error('fn failed');
  await assert.rejects(
    withTransaction(pool, async (client) => {
      await client.query('insert into tx_probe (n) values (1)');
      throw failure;
    }),
    (err) => err === failure,
  );
  const { rows } = await db.pool.query<{ n: string }>('select count(*) as n from tx_probe');
  assert.equal(rows[0].n, '0', 'the insert was rolled back');
  assert.deepEqual(releases, [undefined], 'released once, healthy');
  // The same connection serves the next transaction: it is not left inside the failed one.
  const status = await withTransaction(pool, async (client) => {
    await client.query('insert into tx_probe (n) values (2)');
    return (await client.query<{ s: string }>("select current_setting('transaction_isolation') as s")).rows[0]
      .s;
  });
  assert.equal(status, 'read committed');
  assert.equal((await db.pool.query('select n from tx_probe')).rows.length, 1);
  assert.equal(pool.totalCount, 1);
});

test('a client whose rollback fails is released broken, and fn’s error is the one thrown', async (t) => {
  const { pool, releases } = recordingPool();
  t.after(() => pool.end());
  let cause: unknown;
  await assert.rejects(
    withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      // Ends this session from another one and waits until it has gone: fn's next query and
      // the rollback after it both fail.
      await db.pool.query('select pg_terminate_backend($1::int, 10000)', [rows[0].pid]);
      try {
        await client.query('select 1');
      } catch (err) {
        cause = err;
        throw err;
      }
    }),
    (err) => err === cause,
  );
  assert.equal(releases.length, 1);
  assert.ok(releases[0] instanceof Error, 'released with the rollback error: the pool destroys it');
  assert.equal(pool.totalCount, 0);
});
