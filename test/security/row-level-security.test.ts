// Row-level security proven alone, without the application's own account conditions: connected
// as the service's roles (the credentials cdrex itself uses), a query that forgets the account
// sees nothing of any tenant, and the roles cannot read server files, escalate or bypass the
// parent table through a partition.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { accountDb, AccountIdError, setAccount } from '../../src/store/account-db.js';
import { partitionName } from '../../src/store/partitions.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, NOW, startServer } from '../helpers/server.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const a = await server.newAccount('a');
const b = await server.newAccount('b');
await server.seed(a.account_id, 'cdr_in', 40, 1);
await server.seed(b.account_id, 'cdr_out', 25, 2);

/** One connection as `url`, closed after fn. */
async function as<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function sqlState(client: pg.ClientBase, sql: string): Promise<string | undefined> {
  try {
    await client.query(sql);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

const count = async (client: pg.ClientBase, table: string) =>
  Number((await client.query(`select count(*) as n from ${table}`)).rows[0].n);

test('the service roles are not superusers and cannot create roles; only the worker bypasses RLS', async () => {
  for (const [url, bypass] of [
    [db.roles.app, false],
    [db.roles.worker, true],
  ] as const) {
    await as(url, async (c) => {
      const { rows } = await c.query(
        `select r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                pg_has_role(session_user, 'pg_read_server_files', 'member') as read_files,
                pg_has_role(session_user, 'pg_execute_server_program', 'member') as programs
           from pg_roles r where r.rolname = session_user`,
      );
      assert.deepEqual(rows[0], {
        rolsuper: false,
        rolbypassrls: bypass,
        rolcreaterole: false,
        rolcreatedb: false,
        read_files: false,
        programs: false,
      });
    });
  }
});

test('as cdrex_app, a query that forgets the account sees no row of any tenant', async () => {
  await as(db.roles.app, async (c) => {
    for (const table of ['cdrs', 'exports', 'export_files', 'jobs', 'api_tokens', 'accounts'])
      assert.equal(await count(c, table), 0, table);
    // RESET ROLE and SET ROLE change nothing: the role logged in as itself.
    assert.equal(await sqlState(c, 'reset role'), undefined);
    assert.equal(await count(c, 'cdrs'), 0);
    assert.equal(await sqlState(c, 'set role postgres'), '42501');
  });
});

test("with an account set, the same forgetful query sees that account's rows and no other", async () => {
  const asA = accountDb(db.app, a.account_id);
  const { rows } = await asA.query<{ account_id: string; n: string }>(
    'select account_id, count(*) as n from cdrs group by account_id',
  );
  assert.deepEqual(rows, [{ account_id: a.account_id, n: '40' }]);
  const { rows: accounts } = await asA.query<{ id: string }>('select id from accounts');
  assert.deepEqual(
    accounts.map((r) => r.id),
    [a.account_id],
  );
});

test("cdrex_app cannot write another account's rows, nor any CDR, nor read keys", async () => {
  const asA = accountDb(db.app, a.account_id);
  await assert.rejects(
    asA.query(
      `insert into exports (id, account_id, dialect, export_type, filters, range_from, range_to)
       values (gen_random_uuid(), $1, 'exports', 'cdr_in', '{}', now(), now())`,
      [b.account_id],
    ),
    { code: '42501' }, // new row violates row-level security policy
  );
  await assert.rejects(
    asA.query(
      `insert into cdrs (account_id, kind, time_start, call_id, status) values ($1, 'cdr_in', now(), 'x', 'Success')`,
      [a.account_id],
    ),
    { code: '42501' },
  );
  await assert.rejects(asA.query('select * from api_keys'), { code: '42501' });
  // B's rows are untouched by anything A ran.
  const updated = await asA.query("update exports set status = 'failed'");
  assert.equal(updated.rowCount, 0);
});

test('a partition read directly, around the parent, is refused', async () => {
  await as(db.roles.app, async (c) => {
    assert.equal(await sqlState(c, `select * from ${partitionName(MONTH_START)}`), '42501');
    assert.equal(await sqlState(c, 'select * from cdrs_default'), '42501');
  });
  await as(db.roles.worker, async (c) => {
    assert.equal(await sqlState(c, `select * from ${partitionName(MONTH_START)}`), '42501');
  });
});

test('neither role can read server files, write files or run programs', async () => {
  for (const url of [db.roles.app, db.roles.worker]) {
    await as(url, async (c) => {
      assert.equal(await sqlState(c, "select pg_read_file('postgresql.conf')"), '42501');
      assert.equal(await sqlState(c, "select pg_ls_dir('.')"), '42501');
      assert.equal(await sqlState(c, "copy (select 1) to '/tmp/cdrex-rls-test'"), '42501');
      assert.equal(await sqlState(c, "copy (select 1) to program 'true'"), '42501');
      assert.equal(await sqlState(c, 'create role cdrex_intruder'), '42501');
      assert.equal(await sqlState(c, 'create table public.intruder (x int)'), '42501');
    });
  }
});

test('setAccount takes only an account id: nothing else reaches its SQL text', async () => {
  await as(db.roles.app, async (c) => {
    for (const bad of [`${a.account_id}'; reset all; --`, "' or true --", a.account_id.toUpperCase(), ''])
      await assert.rejects(setAccount(c, bad), AccountIdError);
  });
  assert.throws(() => accountDb(db.app, "x' or '1'='1"), AccountIdError);
});

test("an upload cannot write another account's rows, whatever its body says", async () => {
  const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
  const res = await fetch(`${server.base}/v2/accounts/${b.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': b.api_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      data: [{ call_id: 'smuggled', account_id: a.account_id, timestamp: nowG - 60, duration_seconds: 3 }],
    }),
  });
  assert.equal(res.status, 201, await res.text());
  const { rows } = await db.pool.query("select account_id from cdrs where call_id = 'smuggled'");
  assert.deepEqual(rows, [{ account_id: b.account_id }]);
});
