// Promise (issue 16, pages and exports): AccountDb.streams() leaves room for other callers, and
// AccountDb.read() runs a page in one round trip, BEGIN to COMMIT, with its values as parameters;
// the connection it used goes back to the pool with its transaction ended (no account setting
// left on it for the next caller) or, after an error, not at all; and the statement cannot write.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type pg from 'pg';
import { accountDb } from '../../src/store/account-db.js';
import { createPool } from '../../src/store/db.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import { createTestDatabase } from '../helpers/db.js';

const db = await createTestDatabase();
const account = await createAccount(db.pool, randomBytes(32), 'reader');
// One connection: whatever read() leaves on it, the next caller gets.
const single = createPool(db.roles.app, undefined, { max: 1 });

/** Runs fn on a pool of one connection, closed after: whatever a read leaves on it, the next
 * caller gets. */
async function onOneConnection(fn: (one: pg.Pool) => Promise<void>) {
  const one = createPool(db.roles.app, undefined, { max: 1 });
  try {
    await fn(one);
  } finally {
    await one.end();
  }
}

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
  await onOneConnection(async (one) => {
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
  });
});

test('read(): BEGIN, the account, the statement and COMMIT go out together, answered by one ReadyForQuery', async () => {
  await onOneConnection(async (one) => {
    const reader = accountDb(one, account.account_id);
    // The first read on a pool also asks once whether the store is a Citus cluster.
    await reader.read({ text: 'select 1' });
    // The pool's only connection, watched: every round trip ends in one ReadyForQuery.
    const client = await one.connect();
    let trips = 0;
    (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('readyForQuery', () => trips++);
    client.release();
    const { rows } = await reader.read<{ account: string; readOnly: string }>({
      text: "select current_setting('cdrex.account') as account, current_setting('transaction_read_only') as \"readOnly\"",
    });
    assert.deepEqual(rows, [{ account: account.account_id, readOnly: 'on' }]);
    assert.equal(trips, 1, 'one round trip to the database, the COMMIT included');
    const after = await one.query<{ account: string | null }>(
      "select current_setting('cdrex.account', true) as account",
    );
    assert.ok(!after.rows[0].account, 'the setting ended with the read');
  });
});

test('read(): values travel as parameters, whatever they look like', async () => {
  const hostile = "'); set local cdrex.account = '00000000000000000000000000000000'; select ('$1";
  const at = new Date('2026-10-05T12:34:56.789Z');
  const { rows } = await accountDb(db.app, account.account_id).read<{ v: string; t: Date; account: string }>({
    text: "select $1::text as v, $2::timestamptz as t, current_setting('cdrex.account') as account",
    values: [hostile, at],
  });
  assert.deepEqual(rows, [{ v: hostile, t: at, account: account.account_id }]);
});

test('read(): a statement that fails, named or not, leaves the pool serving the next read', async () => {
  await onOneConnection(async (one) => {
    const reader = accountDb(one, account.account_id);
    const divide = { name: 'account_read_divide', text: 'select 1 / $1::int as n' };
    // Parsed, then failed when run: the connection goes, and the statement is parsed again on
    // the next one (a connection kept would answer "prepared statement already exists").
    await assert.rejects(reader.read({ ...divide, values: [0] }), /division by zero/);
    assert.deepEqual((await reader.read({ ...divide, values: [1] })).rows, [{ n: 1 }]);
    assert.deepEqual((await reader.read({ ...divide, values: [2] })).rows, [{ n: 0 }]);
    // Never parsed at all.
    await assert.rejects(reader.read({ name: 'account_read_typo', text: 'selec 1' }), /syntax error/);
    const { rows } = await reader.read<{ account: string }>({
      text: "select current_setting('cdrex.account') as account",
    });
    assert.deepEqual(rows, [{ account: account.account_id }]);
  });
});

test('read(): what it cannot send faithfully is refused before anything is written, and the pool serves on', async () => {
  await onOneConnection(async (one) => {
    const reader = accountDb(one, account.account_id);
    // A value whose conversion throws: refused whole, never half a batch on the wire without
    // its Sync (whose connection, dropped later, rejected a promise nobody awaited).
    const unsendable = {
      toPostgres() {
        throw new Error('no text form for this value');
      },
    };
    await assert.rejects(reader.read({ text: 'select $1::text as v', values: [unsendable] }), /no text form/);
    // One name, two texts: pg.Query refuses it too, rather than run the first text.
    await reader.read({ name: 'account_read_one_name', text: 'select 1 as n' });
    await assert.rejects(
      reader.read({ name: 'account_read_one_name', text: 'select 2 as n' }),
      /must be unique/,
    );
    // Options the one-trip read does not apply are refused, not ignored (pg's QueryConfig type
    // leaves rowMode to QueryArrayConfig, so the object is not a literal here).
    const arrayRows = { text: 'select 1 as n', rowMode: 'array' };
    await assert.rejects(reader.read(arrayRows), /does not take rowMode/);
    const { rows } = await reader.read<{ account: string }>({
      text: "select current_setting('cdrex.account') as account",
    });
    assert.deepEqual(rows, [{ account: account.account_id }]);
  });
});
