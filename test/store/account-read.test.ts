// Promise (issue 16, pages and exports): AccountDb.streams() leaves room for other callers, and
// AccountDb.read() answers a page's statement before its COMMIT has
// run, yet the connection it used goes back to the pool only with its transaction ended (no
// account setting left on it for the next caller), and the statement cannot write.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { accountDb } from '../../src/store/account-db.js';
import { createPool } from '../../src/store/db.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();
const account = await createAccount(db.pool, randomBytes(32), 'reader');
// One connection: whatever read() leaves on it, the next caller gets.
const single = createPool(db.roles.app, undefined, { max: 1 });

test('read(): the rows of its account, then a clean connection for the next caller', async () => {
  const reader = accountDb(single, account.account_id);
  for (let i = 0; i < 5; i++) {
    const { rows } = await reader.read<{ account: string }>({
      text: "select current_setting('cdrex.account') as account",
    });
    assert.equal(rows[0].account, account.account_id);
    // Asked at once, on the same (only) connection: the read's transaction is over.
    const next = await single.query<{ account: string | null; open: boolean }>(
      "select current_setting('cdrex.account', true) as account, now() = statement_timestamp() as open",
    );
    assert.ok(!next.rows[0].account, `no account left set: ${next.rows[0].account}`);
    assert.equal(next.rows[0].open, true, 'the statement runs in a transaction of its own');
  }
  await single.end();
});

test('read(): a statement that writes is refused', async () => {
  await assert.rejects(
    accountDb(db.app, account.account_id).read({ text: "delete from cdrs where call_id = 'x'" }),
    /read-only transaction/,
  );
});

test('streams(): extra connections only while `keepFree` stay free for other callers', async () => {
  const small = createPool(db.roles.app, undefined, { max: 4, connectTimeoutMs: 2000 });
  const held: { done(err?: Error): void }[] = [];
  try {
    const reader = accountDb(small, account.account_id);
    // 4 connections, 1 kept free: the first and 2 extra.
    const first = await reader.streams(8, 1);
    held.push(...first);
    assert.equal(first.length, 3);
    // The one kept free serves another caller's first connection at once; it gets no extra.
    const second = await reader.streams(8, 1);
    held.push(...second);
    assert.equal(second.length, 1);
  } finally {
    for (const r of held) r.done();
    await small.end();
  }
});

test('read(): a named statement runs on its generic plan from its first run, and the setting ends with the read', async () => {
  const one = createPool(db.roles.app, undefined, { max: 1 });
  try {
    const reader = accountDb(one, account.account_id);
    const page = {
      name: 'account_read_generic',
      text: 'select count(*)::int as n from cdrs where account_id = $1::text and time_start >= $2::timestamptz',
      values: [account.account_id, new Date('2026-01-01T00:00:00Z')],
    };
    for (let i = 0; i < 3; i++) await reader.read(page);
    const { rows } = await one.query<{ generic_plans: string; custom_plans: string; mode: string }>(
      `select generic_plans, custom_plans, current_setting('plan_cache_mode') as mode
         from pg_prepared_statements where name = $1`,
      [page.name],
    );
    // PostgreSQL's own choice plans the first five runs anew (custom plans) whatever follows.
    assert.deepEqual(rows, [{ generic_plans: '3', custom_plans: '0', mode: 'auto' }]);
    await reader.read({ text: 'select 1' });
    const after = await one.query<{ mode: string }>("select current_setting('plan_cache_mode') as mode");
    assert.equal(after.rows[0].mode, 'auto', 'an unnamed statement is planned for its values');
  } finally {
    await one.end();
  }
});
