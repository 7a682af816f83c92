// A query whose connection goes silent (a network partition: no answer, no FIN) fails as the store
// being unavailable soon after statement_timeout plus a grace, instead of waiting for TCP, and the
// pool goes on with fresh connections once the network returns (src/store/db.ts: createPool gives
// pg a query_timeout of statement_timeout plus a grace). The connection is already open and idle in the pool when the network goes
// quiet, so neither the connect timeout nor the server's statement_timeout can end the wait.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { storeFailure } from '../../src/store/errors.js';
import { createTestDatabase } from '../helpers/db.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const db = await createTestDatabase();
const proxy = await startTcpProxy(db.url);
after(() => proxy.close());

test('a query on a connection gone silent fails as unavailable; the pool recovers', async () => {
  // statement_timeout 300 ms: the client gives up after 2.3 s.
  const pool = createPool(proxy.url, undefined, { max: 1, statementTimeoutMs: 300, tcpTimeoutMs: 0 });
  after(() => pool.end());
  assert.equal((await pool.query('select 1 as one')).rows[0].one, 1);

  proxy.silence();
  const outcome = await Promise.race([
    pool.query('select 2').then(
      () => 'an answer',
      (e: unknown) => e,
    ),
    // Unref'd: a timer left pending kept the file's process alive 10 s after its last test.
    new Promise((resolve) => setTimeout(resolve, 15_000, 'still waiting after 15 s').unref()),
  ]);
  // Back before asserting: a query still waiting is then ended, and the pool can close.
  proxy.restore();
  assert.ok(outcome instanceof Error, `the silent query failed, got: ${String(outcome)}`);
  assert.equal(storeFailure(outcome), 'unavailable', String(outcome));

  assert.equal((await pool.query('select 3 as three')).rows[0].three, 3);
});

test('a slow query that answers within its deadline is not cut', async () => {
  const pool = createPool(db.url, undefined, { max: 1, statementTimeoutMs: 4000 });
  after(() => pool.end());
  // 2.5 s, within its deadline of 6 s.
  const { rows } = await pool.query('select pg_sleep(2.5), 4 as four');
  assert.equal(rows[0].four, 4);
});
