// `cdrex import --type freeswitch`: replaying mod_json_cdr's err-log-dir after an outage, as an
// operator's cron job would. One line per file, a bad file does not stop the run, the exit code
// says whether any failed, a second run stores nothing new, and --move-done/--move-failed empty
// the directory.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cdrex, ROOT, summary, type CliResult } from '../helpers/cli.js';
import { KAZOO_ID } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, testEnv } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-replay-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);
const errLogDir = path.join(dataDir, 'json_cdr_errors');
const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');

const created = await cdrex(['accounts', 'create', '--name', 'pbx'], env);
assert.equal(created.code, 0, created.stderr);
const account = (summary(created) as { account_id: string }).account_id;

/** The sample as a CDR of an hour ago, with microseconds, under a uuid of its own. */
function cdr(uuid: string, minutesAgo: number): { json: string; startUepoch: string } {
  const doc = JSON.parse(sample) as { variables: Record<string, string> };
  const start = BigInt(NOW.getTime() - minutesAgo * 60_000) * 1000n + 271n;
  Object.assign(doc.variables, {
    uuid,
    start_uepoch: String(start),
    answer_uepoch: String(start + 2_000_000n),
    end_uepoch: String(start + 6_000_000n),
  });
  return { json: JSON.stringify(doc), startUepoch: String(start) };
}

function write(relative: string, content: string): string {
  const file = path.join(errLogDir, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${content}\n`); // mod_json_cdr ends each file with a newline
  return file;
}

const plain = cdr('6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0001', 60);
const files = {
  // prefix-a-leg names the A leg's file a_<uuid>.cdr.json
  plain: write('a_6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0001.cdr.json', plain.json),
  // with `rotate`, the err-log-dir has dated subdirectories; with `encode`, files hold the
  // URL-encoded or base64 body the module would have posted
  encoded: write(
    '2026-12-02-10-00-00/6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0002.cdr.json',
    encodeURIComponent(cdr('6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0002', 50).json),
  ),
  base64: write(
    'b64_6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0003.cdr.json',
    Buffer.from(cdr('6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0003', 40).json).toString('base64'),
  ),
  broken: write('broken.cdr.json', plain.json.slice(0, 500)),
  // the same CDR twice (a retry that did reach the disk twice): stored once
  duplicate: write('copy_6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0001.cdr.json', plain.json),
};
const notJson = write('README.txt', 'not a CDR');
const GOOD = [files.plain, files.encoded, files.base64, files.duplicate];

type Outcome = { file: string; status: string; reason?: string; moved_to?: string; id?: string };

/** The per-file lines and the totals line of one run. */
function report(result: CliResult): { outcomes: Map<string, Outcome>; totals: Record<string, number> } {
  const lines = result.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const totals = lines.pop() as Record<string, number>;
  const outcomes = new Map((lines as Outcome[]).map((o) => [o.file, o]));
  assert.equal(outcomes.size, lines.length, 'one line per file');
  return { outcomes, totals };
}

const replay = (...extra: string[]) =>
  cdrex(['import', '--account', account, '--type', 'freeswitch', ...extra, errLogDir], env);

async function stored(): Promise<{ call_id: string; source: string; imported: boolean; start_us: string }[]> {
  const { rows } = await db.pool.query(
    `select call_id, source, imported, (extract(epoch from time_start) * 1000000)::bigint::text as start_us
       from cdrs where account_id = $1 order by call_id`,
    [account],
  );
  return rows;
}

test('a directory: good files stored, the copy a duplicate, the broken one failed, others ignored', async () => {
  const result = await replay();
  assert.equal(result.code, 1, 'a failed file makes the exit code non-zero');
  const { outcomes, totals } = report(result);
  assert.deepEqual(totals, { files: 5, stored: 3, duplicate: 1, failed: 1 });
  assert.deepEqual(
    [...outcomes.keys()].sort(),
    Object.values(files).sort(),
    'every *.json under the directory, recursively; README.txt not read',
  );
  for (const f of [files.plain, files.encoded, files.base64])
    assert.equal(outcomes.get(f)?.status, 'stored', f);
  assert.equal(outcomes.get(files.duplicate)?.status, 'duplicate');
  // Each line names its CDR by its Kazoo id; the copy names the one stored before it.
  const { rows: ids } = await db.pool.query(`select ${KAZOO_ID} as id from cdrs where call_id = $1`, [
    '6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0001',
  ]);
  assert.equal(outcomes.get(files.plain)?.id, ids[0].id);
  assert.equal(outcomes.get(files.duplicate)?.id, ids[0].id);
  assert.equal(outcomes.get(files.broken)?.id, undefined);
  assert.equal(outcomes.get(files.broken)?.status, 'failed');
  assert.match(outcomes.get(files.broken)?.reason ?? '', /JSON/);

  const rows = await stored();
  assert.equal(rows.length, 3);
  // As if posted: the switch's source, not imported, microseconds kept.
  assert.ok(rows.every((r) => r.source === 'freeswitch' && r.imported === false));
  assert.equal(rows.find((r) => r.call_id.endsWith('0001'))?.start_us, plain.startUepoch);
  assert.ok(fs.existsSync(notJson) && GOOD.every((f) => fs.existsSync(f)), 'nothing moved without --move-*');
});

test('a second run stores nothing new', async () => {
  const before = await stored();
  const result = await replay();
  assert.equal(result.code, 1);
  assert.deepEqual(report(result).totals, { files: 5, stored: 0, duplicate: 4, failed: 1 });
  assert.deepEqual(await stored(), before);
});

test('--move-done and --move-failed empty the directory; then a run finds nothing and exits 0', async () => {
  const done = path.join(dataDir, 'done');
  const failed = path.join(dataDir, 'failed');
  const result = await replay('--move-done', done, '--move-failed', failed);
  assert.equal(result.code, 1);
  const { outcomes, totals } = report(result);
  assert.deepEqual(totals, { files: 5, stored: 0, duplicate: 4, failed: 1 });
  for (const f of GOOD) {
    assert.equal(outcomes.get(f)?.moved_to, path.join(done, path.basename(f)));
    assert.ok(!fs.existsSync(f) && fs.existsSync(path.join(done, path.basename(f))), f);
  }
  assert.equal(outcomes.get(files.broken)?.moved_to, path.join(failed, 'broken.cdr.json'));
  assert.deepEqual(fs.readdirSync(failed), ['broken.cdr.json']);
  assert.ok(fs.existsSync(notJson), 'a file that is not *.json stays');

  const again = await replay('--move-done', done, '--move-failed', failed);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(report(again).totals, { files: 0, stored: 0, duplicate: 0, failed: 0 });
  assert.equal((await stored()).length, 3);
});

test('a named file that does not exist is reported failed; the others still load', async () => {
  const missing = path.join(dataDir, 'nope.cdr.json');
  const fresh = cdr('6c1f0a52-0b7e-4c41-9d0e-3b3f1c2a0004', 30);
  const file = path.join(dataDir, 'single.cdr.json');
  fs.writeFileSync(file, fresh.json);
  const result = await cdrex(['import', '--account', account, '--type', 'freeswitch', missing, file], env);
  assert.equal(result.code, 1);
  const { outcomes, totals } = report(result);
  assert.equal(outcomes.get(missing)?.status, 'failed');
  assert.equal(outcomes.get(file)?.status, 'stored');
  assert.deepEqual(totals, { files: 2, stored: 1, duplicate: 0, failed: 1 });
});
