// The files people actually have (issue #14): generate writes gzip for FILE.gz; import reads a
// CSV a spreadsheet saved with a byte-order mark, says what a file of the wrong --type is and the
// command that reads it, and shows its progress on a terminal only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { CDREX_BIN, cdrex, ROOT, summary, hasScript } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import type { CdrKind } from '../../src/store/queries/cdrs.js';
import { newAccountIn, testEnv, THIS_MONTH, THIS_YEAR, writeGenerated } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-import-files-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);
const month = `${THIS_YEAR}-${String(THIS_MONTH).padStart(2, '0')}`;
const file = (name: string) => path.join(dataDir, name);
const endOfMonth = new Date(Date.UTC(THIS_YEAR, THIS_MONTH, 1)).toISOString();

// The account is made in this process, and the files too, but for the first test's (its subject
// is `cdrex generate`): each command spawned is about half a second of CPU.
const account = (await newAccountIn(db, 'Files Ltd')).account_id;

async function cliGenerate(name: string, kind: CdrKind, rows: number, seed: number): Promise<string> {
  const args = ['generate', '--type', kind, '--month', month, '--rows', String(rows)];
  const result = await cdrex(
    [...args, '--seed', String(seed), '--now', endOfMonth, '--out', file(name)],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  return file(name);
}

const generate = (name: string, kind: CdrKind, rows: number, seed: number) =>
  writeGenerated(file(name), env, { kind, rows, seed, now: new Date(endOfMonth) });

const importFile = (type: string, name: string) =>
  cdrex(['import', '--account', account, '--type', type, name], env);

/** The one error line a failed command prints on stderr. */
function errorOf(stderr: string): { error: string; file?: string; line?: number } {
  const lines = stderr.split('\n').filter((l) => l.startsWith('{"error"'));
  assert.equal(lines.length, 1, stderr);
  return JSON.parse(lines[0]) as { error: string; file?: string; line?: number };
}

test('generate --out FILE.gz writes gzip, which import reads', async () => {
  const gz = await cliGenerate('month.csv.gz', 'cdr_in', 40, 3);
  const bytes = fs.readFileSync(gz);
  assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'the gzip magic');
  const csv = zlib.gunzipSync(bytes).toString('utf8');
  assert.ok(csv.startsWith('Date/Time Start (UTC),'), csv.slice(0, 80));
  assert.equal(csv.trim().split('\n').length, 41);
  // The same rows as the plain file of the same seed.
  assert.equal(csv, fs.readFileSync(await cliGenerate('month.csv', 'cdr_in', 40, 3), 'utf8'));
  const result = await importFile('cdr_in', gz);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(summary(result), { inserted: 40, duplicates: 0 });
});

test('import reads a CSV saved with a UTF-8 byte-order mark, plain or gzip, file or stdin', async () => {
  const plain = fs.readFileSync(await generate('bom-source.csv', 'cdr_out', 25, 11));
  fs.writeFileSync(file('bom.csv'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), plain]));
  const first = await importFile('cdr_out', file('bom.csv'));
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(summary(first), { inserted: 25, duplicates: 0 });
  fs.writeFileSync(file('bom.csv.gz'), zlib.gzipSync(fs.readFileSync(file('bom.csv'))));
  const gz = await importFile('cdr_out', file('bom.csv.gz'));
  assert.deepEqual(summary(gz), { inserted: 0, duplicates: 25 });
  const stdin = await cdrex(
    ['import', '--account', account, '--type', 'cdr_out', '-'],
    env,
    fs.readFileSync(file('bom.csv')),
  );
  assert.deepEqual(summary(stdin), { inserted: 0, duplicates: 25 });
});

describe('a file of another --type: what it is, and the command that reads it', () => {
  test('a cdr_out export imported as cdr_in', async () => {
    const out = await generate('outbound.csv', 'cdr_out', 5, 1);
    const result = await importFile('cdr_in', out);
    assert.equal(result.code, 1);
    const { error, line } = errorOf(result.stderr);
    assert.equal(line, 1);
    assert.ok(error.includes('this is a cdr_out file'), error);
    assert.ok(error.includes(`cdrex import --account ${account} --type cdr_out ${out}`), error);
  });

  test('a cdr_in export imported as cdr_out, and as asterisk', async () => {
    const inbound = await generate('inbound.csv', 'cdr_in', 5, 2);
    for (const type of ['cdr_out', 'asterisk']) {
      const { error } = errorOf((await importFile(type, inbound)).stderr);
      assert.ok(error.includes('this is a cdr_in file'), error);
      assert.ok(error.includes(`--type cdr_in ${inbound}`), error);
    }
  });

  test('an Asterisk Master.csv and a Kazoo CSV imported as cdr_in', async () => {
    const master = path.join(ROOT, 'test', 'fixtures', 'asterisk-Master.csv');
    const asterisk = errorOf((await importFile('cdr_in', master)).stderr).error;
    assert.ok(asterisk.includes('this looks like an Asterisk Master.csv'), asterisk);
    assert.ok(asterisk.includes(`--type asterisk ${master}`), asterisk);

    fs.writeFileSync(file('kazoo.csv'), 'id,call_id,timestamp,duration_seconds\nx,abc,63900000000,5\n');
    const kazoo = errorOf((await importFile('cdr_in', file('kazoo.csv'))).stderr).error;
    assert.ok(kazoo.includes('this looks like a Kazoo CSV'), kazoo);
    assert.ok(kazoo.includes(`--type kazoo ${file('kazoo.csv')}`), kazoo);
  });

  test('a file cdrex knows nothing of keeps the database error, with its line', async () => {
    fs.writeFileSync(file('other.csv'), 'a,b,c\n1,2,3\n');
    const { error, line } = errorOf((await importFile('cdr_in', file('other.csv'))).stderr);
    assert.equal(line, 1);
    assert.ok(!error.includes('Use:'), error);
  });
});

describe('progress', () => {
  test('without a terminal, import prints nothing but its summary', async () => {
    const result = await importFile('cdr_in', await generate('quiet.csv', 'cdr_in', 30, 21));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '', 'no progress, no log line');
    assert.deepEqual(summary(result), { inserted: 30, duplicates: 0 });
  });

  test('on a terminal, import shows rows, rows/s and the time', { skip: !hasScript() }, async () => {
    const csv = await generate('loud.csv', 'cdr_in', 30, 22);
    const command = `${process.execPath} ${CDREX_BIN} import --account ${account} --type cdr_in ${csv}`;
    // script(1) gives the command a terminal, as a person's shell would.
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /import .*loud\.csv: 30 rows \([\d,]+ rows\/s, \d+\.\d s\)/);
    assert.ok(out.includes('{"inserted":30,"duplicates":0}'), out);
  });
});
