// `cdrex import`, `generate` and `accounts`, run as a user runs them, against this file's database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { CDREX_BIN, cdrex, summary } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import type { CdrKind } from '../../src/store/queries/cdrs.js';
import {
  newAccountIn,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  waitFor,
  writeGenerated,
} from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-cli-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);
const month = `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}`;
const file = (name: string) => path.join(dataDir, name);
/** generate's --now for this file: the end of the month, so the ingestion window alone cuts the
 * month (at the end of today), whatever the time of day the tests run. */
const endOfMonth = new Date(Date.UTC(THIS_YEAR, THIS_MONTH, 1)).toISOString();

// The first two tests run `cdrex accounts create` and `cdrex generate`; the others make their
// accounts and files in this process (the same code, without half a second of CPU per command).
const newAccount = (name: string) => newAccountIn(db, name);

async function count(accountId: string): Promise<number> {
  return (await db.pool.query('select count(*)::int as n from cdrs where account_id = $1', [accountId]))
    .rows[0].n;
}

/** What `cdrex generate --now endOfMonth --out` writes, into the test's folder; returns its path. */
const generateFile = (name: string, rows: number, seed: number, kind: CdrKind = 'cdr_in') =>
  writeGenerated(file(name), env, { kind, rows, seed, now: new Date(endOfMonth) });

test('accounts create prints one JSON line with a 32-hex id and a key stored only hashed', async () => {
  const created = await cdrex(['accounts', 'create', '--name', 'Acme'], env);
  assert.equal(created.code, 0, created.stderr);
  const acct = summary(created) as { account_id: string; api_key: string };
  assert.match(acct.account_id, /^[0-9a-f]{32}$/);
  assert.ok(acct.api_key.length >= 40);
  const { rows } = await db.pool.query(
    'select key_hash, key_ciphertext from api_keys where account_id = $1',
    [acct.account_id],
  );
  assert.equal(rows.length, 1);
  assert.ok(!rows[0].key_hash.toString('latin1').includes(acct.api_key));
  assert.ok(!rows[0].key_ciphertext.toString('latin1').includes(acct.api_key));
});

test('generate is deterministic for a seed and writes the export layout', async () => {
  const args = ['generate', '--type', 'cdr_in', '--month', month, '--rows', '500', '--now', endOfMonth];
  for (const [name, seed] of [
    ['a.csv', '5'],
    ['b.csv', '5'],
    ['c.csv', '6'],
  ]) {
    const r = await cdrex([...args, '--seed', seed, '--out', file(name)], env);
    assert.equal(r.code, 0, r.stderr);
  }
  const a = fs.readFileSync(file('a.csv'), 'utf8');
  assert.equal(a, fs.readFileSync(file('b.csv'), 'utf8'));
  assert.notEqual(a, fs.readFileSync(file('c.csv'), 'utf8'));
  const lines = a.trim().split('\n');
  assert.equal(lines.length, 501);
  assert.ok(lines[0].startsWith('Date/Time Start (UTC),Date/Time Connect (UTC)'));
  assert.ok(lines.some((l) => l.includes(',Failed,')) && lines.some((l) => l.includes(',Success,')));
});

test('import stores a file once: again, it counts duplicates; gzip and stdin work too', async () => {
  const acct = await newAccount('importer');
  await generateFile('in.csv', 300, 9);
  const first = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('in.csv')],
    env,
  );
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(summary(first), { inserted: 300, duplicates: 0 });
  fs.writeFileSync(file('in.csv.gz'), zlib.gzipSync(fs.readFileSync(file('in.csv'))));
  const again = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('in.csv.gz')],
    env,
  );
  assert.deepEqual(summary(again), { inserted: 0, duplicates: 300 });
  const stdin = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', '-'],
    env,
    fs.readFileSync(file('in.csv.gz')),
  );
  assert.deepEqual(summary(stdin), { inserted: 0, duplicates: 300 });
  assert.equal(await count(acct.account_id), 300);

  // A row repeated inside one file is stored once too.
  const other = await newAccount('repeats');
  const lines = fs.readFileSync(file('in.csv'), 'utf8').trim().split('\n');
  fs.writeFileSync(file('repeats.csv'), `${[...lines.slice(0, 11), lines[5], lines[7]].join('\n')}\n`);
  const repeats = await cdrex(
    ['import', '--account', other.account_id, '--type', 'cdr_in', file('repeats.csv')],
    env,
  );
  assert.deepEqual(summary(repeats), { inserted: 10, duplicates: 2 });
  assert.equal(await count(other.account_id), 10);
});

test(
  'a FIFO (as `<(zcat …)` gives) is read once: its duplicates are counted, not lost',
  { timeout: 60_000 },
  async () => {
    // Stored rows send a file to the staging path, which reads its input again: a FIFO read again
    // would wait for a writer forever (or, as /dev/fd/N, be empty and store nothing).
    const acct = await newAccount('fifo');
    const csv = await generateFile('fifo-source.csv', 200, 11);
    const first = await cdrex(['import', '--account', acct.account_id, '--type', 'cdr_in', csv], env);
    assert.deepEqual(summary(first), { inserted: 200, duplicates: 0 });
    const fifo = file('rows.fifo');
    const made = spawn('mkfifo', [fifo]);
    await new Promise((resolve) => made.on('exit', resolve));
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', csv, fifo]);
    const again = await cdrex(['import', '--account', acct.account_id, '--type', 'cdr_in', fifo], env);
    writer.kill();
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(summary(again), { inserted: 0, duplicates: 200 });
    assert.equal(await count(acct.account_id), 200);
  },
);

test('a malformed row stops the file with its line number and stores nothing from it', async () => {
  const acct = await newAccount('strict');
  await generateFile('good.csv', 20, 3, 'cdr_in');
  const lines = fs.readFileSync(file('good.csv'), 'utf8').trim().split('\n');
  const cells = lines[4].split(',');
  cells[7] = 'twelve'; // Duration (sec) on line 5 (header = line 1)
  const broken = [...lines.slice(0, 4), cells.join(','), ...lines.slice(5)].join('\n');
  fs.writeFileSync(file('bad.csv'), `${broken}\n`);
  // Two files: the first is stored, the second fails whole.
  await generateFile('first.csv', 10, 4, 'cdr_in');
  const result = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('first.csv'), file('bad.csv')],
    env,
  );
  assert.equal(result.code, 1);
  assert.deepEqual(summary(result), { inserted: 10, duplicates: 0 });
  const error = JSON.parse(result.stderr.trim().split('\n').pop()!);
  assert.equal(error.file, file('bad.csv'));
  assert.equal(error.line, 5);
  assert.match(error.error, /twelve|integer/);
  assert.equal(await count(acct.account_id), 10);

  fs.writeFileSync(file('header.csv'), lines.join('\n').replace('Status', 'State'));
  const header = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('header.csv')],
    env,
  );
  assert.equal(header.code, 1);
  assert.equal(JSON.parse(header.stderr.trim().split('\n').pop()!).line, 1);

  fs.writeFileSync(file('nocallid.csv'), [lines[0], lines[1].replace(/,[^,]*$/, ',')].join('\n'));
  const noId = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('nocallid.csv')],
    env,
  );
  assert.equal(noId.code, 1);
  assert.equal(JSON.parse(noId.stderr.trim().split('\n').pop()!).line, 2);
  assert.equal(await count(acct.account_id), 10);
});

test('usage errors exit 2 with a JSON error; --help documents every command', async () => {
  const missing = await cdrex(['import', '--type', 'cdr_in', 'x.csv'], env);
  assert.equal(missing.code, 2);
  assert.match(JSON.parse(missing.stderr.trim()).error, /--account/);
  const badType = await cdrex(['import', '--account', 'a'.repeat(32), '--type', 'cdr_x', 'x.csv'], env);
  assert.equal(badType.code, 2);
  // An empty trunk id is no UUID (it once reached the load: '' stored on one path, the file's on
  // the other).
  for (const trunk of ['--voice-out-trunk-id=', '--voice-out-trunk-id=trunk-1']) {
    const badTrunk = await cdrex(
      ['import', '--account', 'a'.repeat(32), '--type', 'cdr_out', trunk, 'x.csv'],
      env,
    );
    assert.equal(badTrunk.code, 2, trunk);
    assert.match(JSON.parse(badTrunk.stderr.trim()).error, /--voice-out-trunk-id/);
  }
  const unknown = await cdrex(['frobnicate'], env);
  assert.equal(unknown.code, 2);
  const help = await cdrex(['--help'], env);
  assert.equal(help.code, 0);
  for (const cmd of [
    'serve',
    'worker',
    'migrate',
    'db start',
    'accounts create',
    'rotate-key',
    'import',
    'generate',
  ]) {
    assert.ok(help.stdout.includes(cmd), cmd);
  }
  const missingFile = await cdrex(
    ['import', '--account', (await newAccount('x')).account_id, '--type', 'cdr_in', file('nope.csv')],
    env,
  );
  assert.equal(missingFile.code, 1);
});

test('a CSV imported with cdrex import comes back out of an export with the same rows', async () => {
  const server = await startServer(db);
  for (const kind of ['cdr_in', 'cdr_out'] as const) {
    const acct = await newAccount(`roundtrip-${kind}`);
    const csv = await generateFile(`rt-${kind}.csv`, 1000, 21, kind);
    const imported = await cdrex(['import', '--account', acct.account_id, '--type', kind, csv], env);
    assert.deepEqual(summary(imported), { inserted: 1000, duplicates: 0 });
    // Outbound exports are per trunk: export every trunk the file mentions and join them.
    const trunks =
      kind === 'cdr_in'
        ? [undefined]
        : [
            ...new Set(
              fs
                .readFileSync(csv, 'utf8')
                .trim()
                .split('\n')
                .slice(1)
                .map((l) => l.split(',')[11]),
            ),
          ];
    const exported: string[] = [];
    let header = '';
    for (const trunk of trunks) {
      const filters: Record<string, unknown> = { year: THIS_YEAR, month: THIS_MONTH };
      if (trunk) filters['voice_out_trunk.id'] = trunk;
      const id = await server.createExport(acct.api_key, { export_type: kind, filters });
      const url = await server.exportFileUrl(acct.api_key, id);
      const body = await fetch(url, { headers: { 'Api-Key': acct.api_key } });
      const lines = zlib
        .gunzipSync(Buffer.from(await body.arrayBuffer()))
        .toString('utf8')
        .trim()
        .split('\n');
      header = lines[0];
      exported.push(...lines.slice(1));
    }
    const original = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(header, original[0]);
    assert.deepEqual([...exported].sort(), original.slice(1).sort());
  }
});

test('import --type kazoo loads Kazoo documents (JSON, NDJSON, CSV), tagged imported', async () => {
  const acct = await newAccount('kazoo-import');
  const ts = Math.floor(Date.now() / 1000) + 62167219200 - 3600;
  const doc = (i: number) => ({
    call_id: `kz-${i}`,
    timestamp: ts - i,
    duration_seconds: 20,
    billing_seconds: 15,
    direction: 'inbound',
  });
  fs.writeFileSync(file('k.json'), JSON.stringify({ data: [doc(1), doc(2)] }));
  fs.writeFileSync(file('k.ndjson'), [doc(3), doc(4), doc(1)].map((d) => JSON.stringify(d)).join('\n'));
  fs.writeFileSync(file('k.csv'), `call_id,timestamp,duration_seconds,billing_seconds\nkz-5,${ts},10,0\n`);
  const r = await cdrex(
    [
      'import',
      '--account',
      acct.account_id,
      '--type',
      'kazoo',
      file('k.json'),
      file('k.ndjson'),
      file('k.csv'),
    ],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(summary(r), { inserted: 5, duplicates: 1 });
  const { rows } = await db.pool.query(
    'select bool_and(imported) as all_imported, count(*)::int as n from cdrs where account_id = $1',
    [acct.account_id],
  );
  assert.deepEqual(rows[0], { all_imported: true, n: 5 });
  fs.writeFileSync(
    file('bad.ndjson'),
    [doc(6), { call_id: 'no-time' }].map((d) => JSON.stringify(d)).join('\n'),
  );
  const bad = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'kazoo', file('bad.ndjson')],
    env,
  );
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.stderr.trim().split('\n').pop()!).line, 2);
  assert.equal(await count(acct.account_id), 5);
});

/** A file's first half (whole lines) and the rest: an input whose end has not arrived yet. */
function halves(path: string): [Buffer, Buffer] {
  const bytes = fs.readFileSync(path);
  const cut = bytes.indexOf('\n', Math.floor(bytes.length / 2)) + 1;
  return [bytes.subarray(0, cut), bytes.subarray(cut)];
}

/** Whether a COPY of this file's database is running (state active: streaming or waiting for rows). */
async function copying(): Promise<boolean> {
  const { rows } = await db.pool.query(
    `select 1 from pg_stat_activity where datname = current_database() and query ilike 'copy%' and state = 'active'`,
  );
  return rows.length > 0;
}

// The two tests below stop an import mid-file. Its input comes on stdin and stops halfway, so
// the COPY has rows and waits for more when it is stopped: a small file is caught mid-stream
// every time, where a file read from disk had to be large (150,000 rows) to be caught at all.
test('SIGKILL of cdrex import mid-file stores nothing of it; importing it again stores it all once', async () => {
  const rows = 2_000;
  const big = await generateFile('big.csv', rows, 31);
  const [first] = halves(big);
  const acct = await newAccount('killed-import');
  const child = spawn(
    process.execPath,
    [CDREX_BIN, 'import', '--account', acct.account_id, '--type', 'cdr_in', '-'],
    {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  child.stdin.on('error', () => {});
  const exited = new Promise((r) => child.once('exit', r));
  child.stdin.write(first);
  // Kill it while its COPY is streaming rows into the database.
  await waitFor(copying, 'the import to be copying');
  child.kill('SIGKILL');
  await exited;
  // The server notices the dead client and rolls its transaction back.
  await waitFor(async () => {
    const { rows: left } = await db.pool.query(
      `select 1 from pg_stat_activity where datname = current_database() and query ilike 'copy%'`,
    );
    return left.length === 0;
  }, 'the killed session to end');
  assert.equal(await count(acct.account_id), 0, 'nothing of the killed import is stored');

  const again = await cdrex(['import', '--account', acct.account_id, '--type', 'cdr_in', big], env);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(summary(again), { inserted: rows, duplicates: 0 });
  assert.equal(await count(acct.account_id), rows);
});

test('the database connection lost mid-import: an error line, nothing stored; importing again stores it all once', async () => {
  const rows = 2_000;
  const big = await generateFile('lost.csv', rows, 32);
  const [first, rest] = halves(big);
  const acct = await newAccount('lost-import');
  let input: Writable | undefined;
  const run = cdrex(['import', '--account', acct.account_id, '--type', 'cdr_in', '-'], env, (stdin) => {
    input = stdin;
    stdin.write(first);
  });
  // Terminate its COPY's backend (as a failover or a restart would) while rows stream in.
  let terminated = 0;
  await waitFor(async () => {
    const { rows: killed } = await db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and query ilike 'copy%' and state = 'active'`,
    );
    terminated += killed.length;
    return terminated > 0;
  }, 'the import to be copying');
  // The rest of the file arrives after the connection is gone.
  input!.end(rest);
  const result = await run;
  assert.equal(result.code, 1, `exit ${result.code}: ${result.stderr}`);
  // The command's error line (log lines may come before or after it on stderr).
  const lines = result.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { error?: unknown; level?: number });
  assert.ok(
    lines.some((l) => typeof l.error === 'string' && l.level === undefined),
    result.stderr,
  );
  assert.equal(await count(acct.account_id), 0, 'nothing of the interrupted import is stored');

  const again = await cdrex(['import', '--account', acct.account_id, '--type', 'cdr_in', big], env);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(summary(again), { inserted: rows, duplicates: 0 });
  assert.equal(await count(acct.account_id), rows);
});

test('import refuses a row outside the ingestion window with its line; generate cannot make one', async () => {
  const acct = await newAccount('window');
  const partitions = async () =>
    (
      await db.pool.query<{ n: string }>("select relname as n from pg_class where relname like 'cdrs\\_%'")
    ).rows
      .map((r) => r.n)
      .sort();
  const before = await partitions();
  const lastError = (r: { stderr: string }) =>
    JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: string; file?: string; line?: number };
  await generateFile('window.csv', 20, 21, 'cdr_in');
  const lines = fs.readFileSync(file('window.csv'), 'utf8').trim().split('\n');

  // A start in 1970 on line 4 (header = line 1).
  const old = lines[3].split(',');
  old[0] = '1970-01-01 00:00:00';
  fs.writeFileSync(file('1970.csv'), [...lines.slice(0, 3), old.join(','), ...lines.slice(4)].join('\n'));
  const r1970 = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('1970.csv')],
    env,
  );
  assert.equal(r1970.code, 1, r1970.stderr);
  assert.deepEqual(lastError(r1970), {
    error:
      'Date/Time Start (UTC) 1970-01-01T00:00:00Z is before 2000-01-01T00:00:00Z, the earliest time accepted (CDREX_INGEST_FROM)',
    file: file('1970.csv'),
    line: 4,
  });

  // An end in year 5138 on the first answered row.
  const answered = lines.findIndex((l, i) => i > 0 && l.split(',')[2] !== '');
  const far = lines[answered].split(',');
  far[2] = '5138-11-16 09:46:39';
  const farLines = [...lines];
  farLines[answered] = far.join(',');
  fs.writeFileSync(file('5138.csv'), farLines.join('\n'));
  const r5138 = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'cdr_in', file('5138.csv')],
    env,
  );
  assert.equal(r5138.code, 1, r5138.stderr);
  const e5138 = lastError(r5138);
  assert.equal(e5138.line, answered + 1);
  assert.equal(e5138.file, file('5138.csv'));
  assert.match(e5138.error, /^Date\/Time End \(UTC\) 5138-11-16T09:46:39Z is after .*CDREX_INGEST_AHEAD_S/);

  // Kazoo documents: the record's line and reason.
  const ts = Math.floor(Date.now() / 1000) + 62167219200;
  const docs = [
    { call_id: 'w-ok', timestamp: ts - 600, duration_seconds: 10 },
    { call_id: 'w-1970', timestamp: 62167219200 + 100, duration_seconds: 10 },
  ];
  fs.writeFileSync(file('w.ndjson'), docs.map((d) => JSON.stringify(d)).join('\n'));
  const rKazoo = await cdrex(
    ['import', '--account', acct.account_id, '--type', 'kazoo', file('w.ndjson')],
    env,
  );
  assert.equal(rKazoo.code, 1, rKazoo.stderr);
  const eKazoo = lastError(rKazoo);
  assert.equal(eKazoo.line, 2);
  assert.match(eKazoo.error, /^record 1: time_start 1970-01-01T00:01:30Z is before 2000-01-01T00:00:00Z/);

  assert.equal(await count(acct.account_id), 0);
  assert.deepEqual(await partitions(), before, 'no partition for 1970 or 5138');

  // generate: a month outside the window is a usage error; this month's times stop before now + 1 day.
  for (const outside of ['1999-12', '2099-01']) {
    const r = await cdrex(
      ['generate', '--type', 'cdr_in', '--month', outside, '--rows', '5', '--out', file('x.csv')],
      env,
    );
    assert.equal(r.code, 2, `${outside}: ${r.stderr}`);
    assert.match(lastError(r).error, /outside the ingestion window/);
  }
  const limit = Date.now() + 86_400_000;
  for (const line of lines.slice(1)) {
    for (const cell of line.split(',').slice(0, 3).filter(Boolean)) {
      const t = Date.parse(`${cell.replace(' ', 'T')}Z`);
      assert.ok(t >= Date.parse('2000-01-01T00:00:00Z') && t <= limit, `${cell} lies in the window`);
    }
  }
});
