// `npm test`: runs every test file with node's test runner against one PostgreSQL server: the one
// named by DATABASE_URL, or else an embedded cluster started here for the run (and stopped after).
// Each test file creates and drops its own database on that server, so runs never share rows.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachEmbedded } from '../src/store/embedded.js';

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

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, CDREX_TEST_SERVER_URL: serverUrl } },
);
const code = await new Promise<number>((resolve) =>
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
);
await release();
process.exit(code);
