// `npm run bench`: cdrex against the do-it-yourself pipeline, measured side by side in one run on
// the same data: `psql \copy (SELECT …) TO STDOUT CSV HEADER | gzip -6` for exports and
// `psql \copy … FROM` for loads. Runs alternate (cdrex, baseline, cdrex, …); medians are reported.
// Options: --rows N (default 1000000), --quick (100000), --runs R (3), --smoke (tiny CI run; writes
// no results file), --scale [--scale-rows N] (the 10M-row store against a 1M-row one, alone;
// bench/measure/scale.ts; not in CI), --citus (a 3-node Citus cluster of its own on this machine,
// the store distributed). Uses DATABASE_URL when set, else an embedded cluster of its own.
// Each measurement lives in bench/measure/.
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { logger, MONTH, openHarness } from './harness.js';
import type { Account, Bench } from './measure/context.js';
import { measureExports, measureParallelExports, PARALLEL } from './measure/exports.js';
import { measureScale } from './measure/scale.js';
import { measureKazoo } from './measure/kazoo.js';
import { measureFreeswitch, measureImports, measureUpload } from './measure/loads.js';
import { buildTable, type Measures, printTable, writeResults } from './measure/report.js';
import { storageBreakdown } from './measure/storage.js';
import { measurePortal } from './portal.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    quick: { type: 'boolean' },
    runs: { type: 'string' },
    smoke: { type: 'boolean' },
    scale: { type: 'boolean' },
    'scale-rows': { type: 'string' },
    citus: { type: 'boolean' },
  },
});
// The harness's store choice (bench/harness.ts), as `npm run loadtest` also reads it.
if (args.citus) process.env.CDREX_BENCH_STORE = 'citus';
const ROWS = Number(args.rows ?? (args.quick ? 100_000 : 1_000_000));
const RUNS = Number(args.runs ?? 3);
const SMOKE = Boolean(args.smoke);
const log = logger('bench');

/** Migrates, creates the bench account and loads a generated month of `rows` inbound CDRs. */
async function loadMonth(harness: Bench['harness'], rows: number) {
  await harness.cli(['migrate']);
  const main = (await harness.cli(['accounts', 'create', '--name', 'bench'])) as unknown as Account;
  const csvFile = path.join(harness.work, 'month.csv');
  await harness
    .cli([
      'generate',
      '--type',
      'cdr_in',
      '--month',
      MONTH,
      '--rows',
      String(rows),
      '--seed',
      '1',
      '--out',
      csvFile,
    ])
    .catch(() => ({}));
  log('loading the month');
  await harness.cli(['import', '--account', main.account_id, '--type', 'cdr_in', csvFile]);
  return { main, csvFile };
}

/** Storage first (before any other phase adds rows), then each measurement in turn. */
async function measureAll(bench: Bench) {
  const storage = await storageBreakdown(bench.pool);
  log(
    `storage: ${storage.perCdr.toFixed(0)} bytes/CDR (table ${storage.table.toFixed(0)}, indexes ${storage.indexes.toFixed(0)}, toast ${storage.toast.toFixed(0)})`,
  );
  log(`storage: bytes/CDR by index: ${storage.perIndex.join(', ')}`);
  const exports = await measureExports(bench);
  const { base } = await bench.harness.serve();
  const kazoo = await measureKazoo(bench, base);
  const portal = await measurePortal(base, bench.main.api_key);
  log(
    portal
      ? `portal: Calls page cold load ${portal.coldMs.toFixed(0)} ms, "This month" ${portal.monthMs.toFixed(0)} ms`
      : 'portal: no chromium here, not measured',
  );
  const uploadRate = await measureUpload(bench, base);
  const fsRate = await measureFreeswitch(bench, base);
  log(`uploads: NDJSON ${Math.round(uploadRate)} rows/s, mod_json_cdr ${Math.round(fsRate)} posts/s`);
  const imports = await measureImports(bench);
  const parallel = await measureParallelExports(bench, base);
  const measures: Measures = { exports, kazoo, storage, imports, uploadRate, parallel };
  return { measures, portal, fsRate };
}

const harness = await openHarness('bench', {
  CDREX_RATE_LIMIT: '100000',
  // Workers wake on NOTIFY; polling stays at its production default so it does not load the
  // database during the latency measurements.
  CDREX_WORKER_CONCURRENCY: String(PARALLEL),
  CDREX_EXPORTS_PER_ACCOUNT: String(PARALLEL),
});
try {
  if (args.scale) {
    const rows = Number(args['scale-rows'] ?? 10_000_000);
    printTable(
      `cdrex bench --scale: ${rows.toLocaleString('en-US')} rows, ${RUNS} exports each (medians)`,
      await measureScale(harness, rows, RUNS),
    );
  } else await runBench();
} finally {
  await harness.cleanup();
}

async function runBench() {
  log(`rows ${ROWS}, runs ${RUNS}${SMOKE ? ' (smoke)' : ''}`);
  const { main, csvFile } = await loadMonth(harness, ROWS);
  const pool = new pg.Pool({ connectionString: harness.databaseUrl, max: 2 });
  pool.on('error', () => {}); // the cluster is stopped at cleanup
  const postgresVersion = String((await pool.query('show server_version')).rows[0].server_version);
  await pool.query('vacuum analyze cdrs');
  const bench: Bench = { harness, pool, main, csvFile, rows: ROWS, runs: RUNS };
  const { measures, portal, fsRate } = await measureAll(bench);
  await pool.end();
  const table = buildTable(measures);
  printTable(
    `cdrex bench: ${ROWS.toLocaleString('en-US')} rows, ${RUNS} runs each (medians), PostgreSQL ${postgresVersion}`,
    table,
  );
  if (!SMOKE) {
    writeResults(table, measures, { rows: ROWS, postgresVersion, fsRate, portal });
    log('wrote bench/results/latest.json');
  }
}
