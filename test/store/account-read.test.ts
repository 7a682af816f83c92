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
