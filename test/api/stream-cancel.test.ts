// A long stream whose client leaves stops its query on the server too (attack review, finding 3):
// releasing the connection is not enough, since PostgreSQL notices a dead client only when it
// next writes to it, and a query that writes nothing for minutes went on holding a backend.
// Here the query cannot write: a lock held by the test keeps it waiting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, NOW, startServer, waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const account = await server.newAccount('reader');
await server.seed(account.account_id, 'cdr_in', 100, 1);
const dbName = new URL(db.url).pathname.slice(1);

/** The backends of the app role in this database running a query like `pattern`. */
async function backends(pattern: string): Promise<number> {
  const { rows } = await db.pool.query(
    `select count(*) as n from pg_stat_activity
      where datname = $1 and usename = 'cdrex_app' and state = 'active' and query like $2`,
    [dbName, pattern],
  );
  return Number(rows[0].n);
}

const from = Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN_OFFSET;
const to = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;

for (const [what, query, pattern] of [
  ['CSV', 'accept=csv', 'copy (select%'],
  // Not any `select`: the cancel itself (`select pg_cancel_backend(…)`) runs as cdrex_app too, and
  // was counted as the stream's query when it ran just after the stream's ended.
  ['paginate=false', 'paginate=false', 'select json_build_object(%'],
] as const) {
  test(`a ${what} stream whose client leaves has its query cancelled`, async () => {
    const locker = await db.pool.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table cdrs in access exclusive mode');
      const abort = new AbortController();
      const request = fetch(
        `${server.base}/v2/accounts/${account.account_id}/cdrs?created_from=${from}&created_to=${to}&${query}`,
        { headers: { 'X-Auth-Token': account.api_key }, signal: abort.signal },
      ).then(
        async (res) => {
          await res.arrayBuffer();
        },
        () => undefined,
      );
      await waitFor(async () => (await backends(pattern)) > 0, `the ${what} query to wait on the lock`);
      abort.abort();
      await request.catch(() => undefined);
      // Still under the lock: only a cancel ends the query now.
      await waitFor(async () => (await backends(pattern)) === 0, `the ${what} query to be cancelled`, 15_000);
      assert.equal(await backends(pattern), 0);
    } finally {
      await locker.query('rollback');
      locker.release();
    }
  });
}
