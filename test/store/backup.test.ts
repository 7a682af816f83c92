// `cdrex db dump` and `cdrex db restore`, run as an operator runs them: a store with every kind
// of row is dumped while a server serves it, restored into a fresh database, and compared table
// by table; refusals (a store with rows, a damaged file, a newer dump, a role that row-level
// security would filter) leave the target as it was. Also the embedded cluster's PG_VERSION check.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import pg from 'pg';
import { CDREX_BIN, cdrex, summary, hasScript } from '../helpers/cli.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/db.js';
import { MONTH_START, startServer, testEnv, waitFor, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';
import { dumpStore } from '../../src/store/backup.js';
import { readDump, type DumpEvent } from '../../src/store/dump-format.js';
import { checkClusterVersion, ClusterVersionError } from '../../src/store/embedded.js';
import { createPool } from '../../src/store/db.js';
import { resolveRoles } from '../../src/store/roles.js';
import { addMonths } from '../../src/store/partitions.js';
import { generateCsv } from '../../src/ingest/generate.js';
import { importDidwwCsv } from '../../src/ingest/didww-csv.js';

const source = await createTestDatabase();
const server = await startServer(source);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-backup-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An empty database on the test server (no schema), dropped at the end. */
async function emptyDatabase(): Promise<string> {
  const name = `cdrex_restore_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  after(async () => {
    const cleanup = new pg.Client({ connectionString: serverUrl() });
    await cleanup.connect();
    await cleanup.query(`drop database if exists ${name} with (force)`);
    await cleanup.end();
  });
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

const envFor = (url: string, env: Record<string, string> = {}) =>
  testEnv({ ...source, url }, path.join(dir, 'data'), env);

/** Every table of the schema but schema_migrations (restore rebuilds that one by migrating). */
async function tableNames(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `select c.relname::text as name from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
        and c.relname <> 'schema_migrations' order by 1`,
  );
  return rows.map((r) => r.name);
}

/** Per table: its row count and an md5 of every row's text, in a fixed order. */
async function fingerprint(pool: pg.Pool): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const table of await tableNames(pool)) {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query('set local row_security = off');
      await client.query("set local timezone = 'UTC'");
      const { rows } = await client.query<{ n: string; h: string | null }>(
        `select count(*)::text as n, md5(string_agg(t::text, ',' order by t::text)) as h from ${table} t`,
      );
      await client.query('commit');
      result[table] = `${rows[0].n}:${rows[0].h ?? ''}`;
    } finally {
      client.release();
    }
  }
  return result;
}

async function seedEveryKindOfRow() {
  const a = await server.newAccount('Acme');
  const b = await server.newAccount('Globex');
  // CDRs of three months and both kinds.
  for (const [account, kind, months, rows] of [
    [a.account_id, 'cdr_in', 0, 300],
    [a.account_id, 'cdr_out', -1, 200],
    [b.account_id, 'cdr_in', -2, 100],
  ] as const) {
    const month = addMonths(MONTH_START, months);
    const csv = generateCsv({ kind, month, rows, seed: rows, now: new Date() });
    await importDidwwCsv(source.pool, csv, { accountId: account, kind, source: 'generate' });
  }
  // A CDR with jsonb extras, microsecond times, and text that looks like the dump's own syntax
  // (a `\.` line, tabs, newlines, backslashes), which COPY's escaping must carry through.
  await source.pool.query(
    `insert into cdrs (account_id, kind, time_start, time_connect, time_end, call_id, status,
                       source_name, extra, source)
     values ($1, 'cdr_in', $2, $3, $4, $5, 'Success', $6, $7::jsonb, 'freeswitch')`,
    [
      a.account_id,
      `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-01 00:00:01.123456+00`,
      `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-01 00:00:02.000001+00`,
      `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}-01 00:00:09.999999+00`,
      '\\.',
      'line one\n\\.\nafter\ttab \\ back',
      JSON.stringify({ custom_channel_vars: { tenant_id: 't17', note: 'x\n\\.\ny' }, sdp: 'v=0\r\n' }),
    ],
  );
  // An export with its file (and its job), and a Kazoo token.
  const exportId = await server.createExport(a.api_key, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
  });
  await server.exportFileUrl(a.api_key, exportId);
  const auth = await fetch(`${server.base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { api_key: a.api_key } }),
  });
  assert.equal(auth.status, 201);
  // A job still to run (finished ones are deleted), so jobs_id_seq has a value to carry over.
  await source.pool.query(
    `insert into jobs (task, account_id, payload, run_at) values ('export', $1, $2::jsonb, now() + interval '1 day')`,
    [a.account_id, JSON.stringify({ export_id: exportId })],
  );
  // A callback secret, when this schema has them.
  if ((await tableNames(source.pool)).includes('callback_secrets'))
    await source.pool.query(
      'insert into callback_secrets (account_id, secret_ciphertext, enabled) values ($1, $2, true)',
      [b.account_id, randomBytes(60)],
    );
  return { a, b };
}

const seeded = await seedEveryKindOfRow();
// The worker's periodic jobs would change rows between the dump and the comparison.
await server.worker?.stop(5000);

async function dump(name: string, env = envFor(source.url)) {
  const out = path.join(dir, name);
  const result = await cdrex(['db', 'dump', '--out', out], env);
  return { out, result };
}

/** A server over a restored database, as cdrex serve would run on it. */
async function openRestored(url: string): Promise<TestDatabase> {
  const roles = await resolveRoles({ ownerUrl: url, dataDir: path.join(dir, 'roles') });
  const pool = createPool(url);
  const app = createPool(roles.app);
  const worker = createPool(roles.worker);
  after(() => Promise.all([pool.end(), app.end(), worker.end()]));
  return { url, pool, roles, app, worker };
}

test('a dump taken while the server serves restores into a fresh database, every table equal', async () => {
  const before = await fingerprint(source.pool);
  for (const table of ['accounts', 'api_keys', 'api_tokens', 'cdrs', 'exports', 'export_files', 'jobs'])
    assert.ok(!before[table].startsWith('0:'), `the source has rows in ${table}`);
  // Requests keep coming while the dump runs.
  let serving = true;
  let answered = 0;
  const traffic = (async () => {
    while (serving) {
      const res = await fetch(`${server.base}/v2/accounts/${seeded.a.account_id}/cdrs?page_size=50`, {
        headers: { 'X-Auth-Token': seeded.a.api_key },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      answered++;
    }
  })();
  const { out, result } = await dump('round-trip.dump.gz');
  serving = false;
  await traffic;
  assert.equal(result.code, 0, result.stderr);
  assert.ok(answered > 0);
  const dumped = summary(result);
  assert.equal(dumped.dumped, out);
  assert.equal(dumped.tables, Object.keys(before).length);
  const totalRows = Object.values(before).reduce((n, v) => n + Number(v.split(':')[0]), 0);
  assert.equal(dumped.rows, totalRows);
  assert.equal(dumped.bytes, fs.statSync(out).size);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  assert.ok(!fs.existsSync(`${out}.tmp`));

  const target = await emptyDatabase();
  const restored = await cdrex(['db', 'restore', out], envFor(target));
  assert.equal(restored.code, 0, restored.stderr);
  const line = summary(restored);
  assert.equal(line.rows, totalRows);
  assert.equal(line.master_key, 'same');
  const restoredDb = await openRestored(target);
  assert.deepEqual(await fingerprint(restoredDb.pool), before);
  // Sequences go on after the restored ids.
  const ids = await restoredDb.pool.query<{ next: string; max: string }>(
    `select nextval('jobs_id_seq')::text as next, (select max(id) from jobs)::text as max`,
  );
  assert.ok(BigInt(ids.rows[0].next) > BigInt(ids.rows[0].max));

  // The API key made before the dump signs in on a server over the restored store.
  const restoredServer = await startServer(restoredDb, { worker: false });
  const res = await fetch(`${restoredServer.base}/v2/accounts/${seeded.a.account_id}/cdrs?page_size=5`, {
    headers: { 'X-Auth-Token': seeded.a.api_key },
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { data: unknown[] }).data.length, 5);

  // A master key other than the dumped store's cannot open the key ciphertexts: the restore says so.
  const other = await emptyDatabase();
  const elsewhere = await cdrex(['db', 'restore', out], envFor(other, { CDREX_MASTER_KEY: 'another key' }));
  assert.equal(elsewhere.code, 0, elsewhere.stderr);
  assert.equal(summary(elsewhere).master_key, 'different');
});

test('writes during the dump: the restore holds one snapshot of them, nothing half', async () => {
  let writing = true;
  let created = 0;
  const writer = (async () => {
    while (writing) {
      await server.newAccount(`during ${created}`); // an account and its key, in one transaction
      created++;
    }
  })();
  await waitFor(async () => created > 0, 'the writer to start');
  const { out, result } = await dump('during-writes.dump.gz');
  writing = false;
  await writer;
  assert.equal(result.code, 0, result.stderr);
  const target = await emptyDatabase();
  const restored = await cdrex(['db', 'restore', out], envFor(target));
  assert.equal(restored.code, 0, restored.stderr);
  const restoredDb = await openRestored(target);
  const count = async (pool: pg.Pool, sql: string) => Number((await pool.query(sql)).rows[0].n);
  const accounts = await count(restoredDb.pool, 'select count(*) as n from accounts');
  const keys = await count(restoredDb.pool, 'select count(*) as n from api_keys');
  assert.equal(keys, accounts, 'every restored account has its key');
  assert.ok(accounts >= 3 && accounts <= (await count(source.pool, 'select count(*) as n from accounts')));
});

test('restore refuses a store that holds rows, and changes nothing in it', async () => {
  const { out, result } = await dump('refused.dump.gz');
  assert.equal(result.code, 0, result.stderr);
  const target = await createTestDatabase(); // migrated, with one account
  await target.pool.query("insert into accounts (id, name) values ($1, 'existing')", ['a'.repeat(32)]);
  const before = await fingerprint(target.pool);
  const refused = await cdrex(['db', 'restore', out], envFor(target.url));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not empty: accounts hold rows/);
  assert.equal(refused.stdout, '');
  assert.deepEqual(await fingerprint(target.pool), before);
});

test('a truncated or corrupted dump fails clearly and leaves the target untouched', async () => {
  const { out, result } = await dump('whole.dump.gz');
  assert.equal(result.code, 0, result.stderr);
  const bytes = fs.readFileSync(out);
  const truncated = path.join(dir, 'truncated.dump.gz');
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.8)));
  const corrupted = path.join(dir, 'corrupted.dump.gz');
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(bytes.length / 2)] ^= 0xff;
  fs.writeFileSync(corrupted, flipped);
  // Cut at a line end inside the gunzipped text: gzip itself is whole, the dump is not.
  const text = zlib.gunzipSync(bytes);
  const cutText = path.join(dir, 'cut-text.dump.gz');
  fs.writeFileSync(cutText, zlib.gzipSync(text.subarray(0, text.indexOf('\n', text.length / 2) + 1)));
  for (const file of [truncated, corrupted, cutText]) {
    const target = await emptyDatabase();
    const failed = await cdrex(['db', 'restore', file], envFor(target));
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /"error":"The dump is (damaged|cut short)/);
    const check = new pg.Client({ connectionString: target });
    await check.connect();
    const { rows } = await check.query(
      "select count(*)::int as n from pg_class where relnamespace = 'public'::regnamespace",
    );
    await check.end();
    assert.equal(rows[0].n, 0, `${path.basename(file)}: the target database is as it was`);
  }
});

test('restore refuses a dump from a newer schema than this cdrex knows', async () => {
  const { out, result } = await dump('newer.dump.gz');
  assert.equal(result.code, 0, result.stderr);
  const text = zlib.gunzipSync(fs.readFileSync(out));
  const newline = text.indexOf('\n');
  const header = JSON.parse(text.subarray(0, newline).toString()) as { schema_version: number };
  header.schema_version = 999_999;
  const newer = path.join(dir, 'from-the-future.dump.gz');
  fs.writeFileSync(
    newer,
    zlib.gzipSync(Buffer.concat([Buffer.from(JSON.stringify(header)), text.subarray(newline)])),
  );
  const target = await emptyDatabase();
  const refused = await cdrex(['db', 'restore', newer], envFor(target));
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /schema version 999999, newer than this cdrex knows/);
});

test('a role that row-level security would filter cannot dump: an error, not a partial file', async () => {
  const role = `cdrex_nobypass_${randomBytes(4).toString('hex')}`;
  // A password too: the embedded PostgreSQL authenticates every login with one.
  const password = randomBytes(12).toString('hex');
  await source.pool.query(`create role ${role} login nobypassrls password '${password}'`);
  await source.pool.query(`grant select on all tables in schema public to ${role}`);
  after(async () => {
    await source.pool.query(`drop owned by ${role}`);
    await source.pool.query(`drop role ${role}`);
  });
  const url = new URL(source.url);
  url.username = role;
  url.password = password;
  const pool = createPool(url.toString(), undefined, { max: 1 });
  after(() => pool.end());
  const client = await pool.connect();
  const out = path.join(dir, 'filtered.dump.gz');
  try {
    await assert.rejects(dumpStore(client, out), /does not bypass row-level security/);
  } finally {
    client.release();
  }
  assert.ok(!fs.existsSync(out) && !fs.existsSync(`${out}.tmp`));
});

test('the reader finds the same tables and rows however the bytes are cut into chunks', async () => {
  const { out, result } = await dump('chunks.dump.gz');
  assert.equal(result.code, 0, result.stderr);
  const text = zlib.gunzipSync(fs.readFileSync(out));
  const read = async (size: number) => {
    async function* chunks() {
      for (let i = 0; i < text.length; i += size) yield text.subarray(i, i + size);
    }
    const rows: string[] = [];
    const ends: string[] = [];
    for await (const e of readDump(chunks()) as AsyncGenerator<DumpEvent>) {
      if (e.kind === 'rows') rows.push(e.chunk.toString());
      if (e.kind === 'table-end') ends.push(`${e.table}:${e.rows}`);
    }
    return { rows: rows.join(''), ends };
  };
  const whole = await read(text.length);
  assert.ok(whole.rows.includes('line one\\n\\\\.\\nafter\\ttab'), 'the tricky CDR is among the rows');
  for (const size of [2, 7, 4096]) assert.deepEqual(await read(size), whole, `chunks of ${size}`);
});

test('dump makes no embedded store where there is none: it says where it looked', async () => {
  const empty = path.join(dir, 'no-store-here');
  const result = await cdrex(['db', 'dump', '--out', path.join(dir, 'nothing.dump.gz')], {
    ...envFor(source.url),
    DATABASE_URL: '',
    CDREX_DATA_DIR: empty,
  });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /No cdrex store in CDREX_DATA_DIR/);
  assert.ok(!fs.existsSync(empty), 'no data directory was made');
});

test(
  'on a terminal, the dump shows each table with its full row count',
  { skip: hasScript() ? false : 'needs script(1) for a pseudo-terminal' },
  async () => {
    const out = path.join(dir, 'on-a-terminal.dump.gz');
    // script(1) gives the command a pseudo-terminal, as a person's shell would.
    const printed = await new Promise<string>((resolve, reject) =>
      execFile(
        'script',
        ['-qec', `${process.execPath} ${CDREX_BIN} db dump --out ${out}`, '/dev/null'],
        { env: { ...process.env, ...envFor(source.url), LOG_LEVEL: 'warn' } },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const lines = printed.split(/[\r\n]+/).map((l) => l.trim());
    const cdrs = Number((await source.pool.query('select count(*) as n from cdrs')).rows[0].n);
    assert.ok(lines.includes(`dump cdrs: ${cdrs.toLocaleString('en-US')} rows`), printed);
    assert.ok(
      lines.some((l) => /^dump accounts: [1-9][\d,]* rows$/.test(l)),
      printed,
    );
    assert.ok(
      lines.some((l) => l.startsWith('{"dumped":')),
      printed,
    );
  },
);

test('the embedded cluster refuses a PG_VERSION other than its package major, and says what to do', () => {
  const pgdata = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-pgdata-'));
  after(() => fs.rmSync(pgdata, { recursive: true, force: true }));
  fs.writeFileSync(path.join(pgdata, 'PG_VERSION'), '17\n');
  assert.throws(
    () => checkClusterVersion(pgdata, '18.4.0-beta.17'),
    (err: Error) =>
      err instanceof ClusterVersionError &&
      /made by PostgreSQL 17/.test(err.message) &&
      /ships PostgreSQL 18/.test(err.message) &&
      /cdrex db dump --out FILE/.test(err.message) &&
      /cdrex db restore FILE/.test(err.message),
  );
  fs.writeFileSync(path.join(pgdata, 'PG_VERSION'), '18\n');
  assert.doesNotThrow(() => checkClusterVersion(pgdata, '18.4.0-beta.17'));
});
