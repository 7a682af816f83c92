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
import { createMigratedDatabase, rolesDir, serverIsCitus } from './helpers/db.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function testFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? testFiles(path.join(dir, e.name))
        : e.name.endsWith('.test.ts')
          ? [path.join(dir, e.name)]
          : [],
    )
    .sort();
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles(path.join(root, 'test'));
// Build what the tests run: the portal (web/dist) and the compiled server (build/) that the
// `cdrex` processes they spawn use. Both take about a second.
for (const args of [
  [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  [path.join(root, 'scripts/build-server.mjs')],
]) {
  const built = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

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
// These share more than that and run one at a time afterwards: embedded clusters (their
// directories, the cluster registry under /var/lib/cdrex as root, the package's binaries) and
// script(1) sessions.
const SERIAL = [
  // Six cdrex processes (four workers, two servers) on the cluster: alone, or they start late.
  'test/jobs/citus-workers.test.ts',
  'test/cli/first-hour.test.ts',
  'test/store/backup.test.ts',
  'test/store/embedded-supervision.test.ts',
  'test/store/embedded.test.ts',
];
const concurrency = Number(process.env.CDREX_TEST_CONCURRENCY ?? 2);
const isSerial = (file: string) => SERIAL.includes(path.relative(root, path.resolve(root, file)));
const env = { ...process.env, CDREX_TEST_TEMPLATE: template, CDREX_TEST_ROLES_DIR: rolesDir };

function runFiles(group: string[], n: number): Promise<number> {
  if (group.length === 0) return Promise.resolve(0);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${n}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./test/helpers/file-times.mjs',
      '--test-reporter-destination=stdout',
      ...group,
    ],
    { stdio: 'inherit', cwd: root, env },
  );
  return new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
}

// Both groups run whatever the other's result, so one failure does not hide another.
const parallelCode = await runFiles(
  files.filter((f) => !isSerial(f)),
  concurrency,
);
const code = (await runFiles(files.filter(isSerial), 1)) || parallelCode;
if (template) {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template} with (force)`);
  await admin.end();
}
await release();
fs.rmSync(rolesDir, { recursive: true, force: true });
process.exit(code);
