// `npm test`: runs every test file with node's test runner against one PostgreSQL server: the one
// named by DATABASE_URL, or else an embedded cluster started here for the run (and stopped after).
// Each test file creates and drops its own database on that server, so runs never share rows: a
// clone of one template database migrated here once (cloning is much faster than migrating).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { attachEmbedded } from '../src/store/embedded.js';
import { compileTests, tsFiles } from './helpers/compile.js';
import { createMigratedDatabase, rolesDir, serverIsCitus } from './helpers/db.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

const only = process.argv.slice(2);
const files =
  only.length > 0
    ? only
    : tsFiles(path.join(root, 'test'))
        .filter((file) => file.endsWith('.test.ts'))
        .sort();
// Build what the tests run: the portal (web/dist) and the compiled server (build/) that the
// `cdrex` processes they spawn use. Both take about a second.
for (const args of [
  [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  [path.join(root, 'scripts/build-server.mjs')],
]) {
  const built = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
// And the test files themselves, to JavaScript: see test/helpers/compile.ts.
const compiled = await compileTests(root);

let serverUrl = process.env.DATABASE_URL;
let release = async () => {};
if (!serverUrl) {
  const dataDir = path.join(root, '.test-data');
  const cluster = await attachEmbedded(dataDir);
  serverUrl = cluster.url;
  release = cluster.release;
}
process.stdout.write(`# tests on ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'the embedded PostgreSQL'}\n`);

// The template: no connection may stay open on it, or cloning it fails. A Citus coordinator gets
// none: each file's database is prepared on every node and distributed (test/helpers/db.ts).
process.env.CDREX_TEST_SERVER_URL = serverUrl;
const template = (await serverIsCitus()) ? '' : `cdrex_template_${randomBytes(6).toString('hex')}`;
if (template) await createMigratedDatabase(template);

// Files run CDREX_TEST_CONCURRENCY at a time (default 2): most of a file's time is waiting (on
// PostgreSQL, a lease, a spawned cdrex), and each has its own database, data directory and ports.
// Beside them, in a lane of their own, one at a time, run the files that share more than that
// with each other: embedded clusters (their directories, the cluster registry under
// /var/lib/cdrex as root, the package's binaries) and script(1) sessions.
const SHARED = [
  'test/cli/first-hour.test.ts',
  'test/store/backup.test.ts',
  'test/store/embedded-supervision.test.ts',
  'test/store/embedded.test.ts',
];
// Six cdrex processes (four workers, two servers) on the cluster: alone, or they start late.
const ALONE = ['test/jobs/citus-workers.test.ts'];
const concurrency = Number(process.env.CDREX_TEST_CONCURRENCY ?? 2);
const listed = (list: string[]) => (file: string) =>
  list.includes(path.relative(root, path.resolve(root, file)));
const env = { ...process.env, CDREX_TEST_TEMPLATE: template, CDREX_TEST_ROLES_DIR: rolesDir };

/** Runs `group` under node's test runner, `n` files at a time, its report on stdout as it comes;
 * or, `held`, kept and answered, so that two lanes' reports do not interleave. */
async function runFiles(group: string[], n: number, held = false): Promise<{ code: number; report: Buffer }> {
  if (group.length === 0) return { code: 0, report: Buffer.alloc(0) };
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      '--test',
      `--test-concurrency=${n}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./test/helpers/file-times.mjs',
      '--test-reporter-destination=stdout',
      ...group.map(compiled),
    ],
    { stdio: ['inherit', held ? 'pipe' : 'inherit', 'inherit'], cwd: root, env },
  );
  const report: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => report.push(chunk));
  const code = await new Promise<number>((resolve) =>
    child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
  );
  return { code, report: Buffer.concat(report) };
}

// Every group runs whatever the others' results, so one failure does not hide another. The
// shared lane's report is printed once the main lane's is complete.
const lanes = await Promise.all([
  runFiles(
    files.filter((f) => !listed(SHARED)(f) && !listed(ALONE)(f)),
    concurrency,
  ),
  runFiles(files.filter(listed(SHARED)), 1, true),
]);
process.stdout.write(lanes[1].report);
const codes = lanes.map((lane) => lane.code);
codes.push((await runFiles(files.filter(listed(ALONE)), 1)).code);
const code = codes.find((c) => c !== 0) ?? 0;
if (template) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template} with (force)`);
  await admin.end();
}
await release();
fs.rmSync(rolesDir, { recursive: true, force: true });
process.exit(code);
