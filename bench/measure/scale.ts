// `npm run bench -- --scale [--scale-rows N]` (N default 10,000,000; not in CI): does the store
// stay as fast when it holds ten times the rows? Two stores in the same PostgreSQL, each with its
// own `cdrex serve`: a small one holding one account's month of N/10 rows, and a large one holding
// the same month (same seed) plus 9N/10 other rows (10 accounts, 3 months, `cdrex generate`'s
// number/trunk/traffic distributions). Both are measured at the same time, their requests and
// exports alternated, so that the machine's own moments fall on both sides alike (Kazoo first page
// p99, that month's export, its summary). The ratios are large over small.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  LATENCY_SAMPLES,
  logger,
  median,
  MONTH_END,
  MONTH_START,
  percentile,
  serverStore,
  timed,
  timeRequests,
  type Harness,
} from '../harness.js';
import type { Account } from './context.js';
import { GREGORIAN } from './context.js';
import { runExport } from './exports.js';
import type { Row } from './report.js';

const log = logger('bench');
const ACCOUNTS = 10;
const MONTHS = 3;
/** Bytes each row may take on disk, with room for WAL and the export files (checked against df). */
const DISK_PER_ROW = 3000;

interface Point {
  pageP99: number;
  /** /healthz's p99, its requests alternated with the page's: the machine's tail at that time. */
  healthzP99: number;
  exportMs: number;
  summaryMs: number;
}

/** YYYY-MM of the month `back` months before the bench's month. */
function monthBefore(back: number): string {
  const d = new Date(Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() - back, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

function checkDisk(dir: string, rows: number) {
  const { bavail, bsize } = fs.statfsSync(dir);
  const need = rows * DISK_PER_ROW;
  if (bavail * bsize < need)
    throw new Error(
      `--scale needs ${(need / 1e9).toFixed(1)} GB free under ${dir}, has ${((bavail * bsize) / 1e9).toFixed(1)} GB`,
    );
}

/** A store's server and the account whose month is measured on it. */
interface Side {
  base: string;
  account: Account;
}

/**
 * The three measures on each side's month, the sides alternated request by request and export by
 * export: page p99 of LATENCY_SAMPLES (each after a /healthz of the same server, as in the main
 * run, so that the machine's own tail shows beside it), export and summary medians. Each request
 * carries its account's key in `auth_token` (Kazoo's query credential): one probe, two accounts.
 */
async function measurePoints(small: Side, large: Side, runs: number): Promise<[Point, Point]> {
  const range = `created_from=${MONTH_START.getTime() / 1000 + GREGORIAN}&created_to=${MONTH_END.getTime() / 1000 - 1 + GREGORIAN}`;
  const url = (s: Side, what: string) =>
    `${s.base}/v2/accounts/${s.account.account_id}/cdrs${what}?${range}&auth_token=${s.account.api_key}`;
  const [healthS, pageS, healthL, pageL] = await timeRequests(
    {},
    [
      `${small.base}/healthz`,
      url(small, '') + '&page_size=50',
      `${large.base}/healthz`,
      url(large, '') + '&page_size=50',
    ],
    LATENCY_SAMPLES,
  );
  const [summaryS, summaryL] = await timeRequests(
    {},
    [url(small, '/summary'), url(large, '/summary')].map((u) => `${u}&bucket=day`),
    5,
    0,
  );
  const exportsS: number[] = [];
  const exportsL: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Which side goes first alternates too.
    const order: [Side, number[]][] = [
      [small, exportsS],
      [large, exportsL],
    ];
    if (i % 2) order.reverse();
    for (const [side, times] of order)
      times.push((await timed(() => runExport(side.base, side.account.api_key))).ms);
  }
  return [
    point('1/10 store', pageS, healthS, exportsS, summaryS),
    point('whole store', pageL, healthL, exportsL, summaryL),
  ];
}

function point(
  label: string,
  pages: number[],
  healths: number[],
  exports: number[],
  summaries: number[],
): Point {
  const each = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  log(
    `scale, ${label}: page p50 ${percentile(pages, 0.5).toFixed(1)} / p99 ${percentile(pages, 0.99).toFixed(1)} ms (healthz p99 ${percentile(healths, 0.99).toFixed(1)} ms), exports ${each(exports)} ms, summaries ${each(summaries)} ms`,
  );
  return {
    pageP99: percentile(pages, 0.99),
    healthzP99: percentile(healths, 0.99),
    exportMs: median(exports),
    summaryMs: median(summaries),
  };
}

/** `cdrex generate` into the store, two at a time (the machine's two cores); rows/s of the whole. */
async function loadRest(harness: Harness, accounts: Account[], rows: number): Promise<number> {
  const jobs: { account: Account; month: string; seed: number }[] = [];
  accounts.forEach((account, i) => {
    for (let back = 0; back < MONTHS; back++)
      if (i > 0 || back > 0) jobs.push({ account, month: monthBefore(back), seed: 1000 + i * MONTHS + back });
  });
  const each = Math.floor(rows / jobs.length);
  let next = 0;
  const loader = async () => {
    while (next < jobs.length) {
      const { account, month, seed } = jobs[next++];
      const argv = ['generate', '--account', account.account_id, '--type', 'cdr_in', '--month', month];
      await harness.cli([...argv, '--rows', String(each), '--seed', String(seed)]);
    }
  };
  const load = await timed(() => Promise.all([loader(), loader()]));
  const rate = (each * jobs.length) / (load.ms / 1000);
  log(
    `scale: loaded ${(each * jobs.length).toLocaleString('en-US')} rows in ${(load.ms / 1000).toFixed(0)} s, ${Math.round(rate)} rows/s`,
  );
  return rate;
}

/**
 * After a load: statistics and visibility map, then a checkpoint, so that the measures that
 * follow do not share the disk with the flushing of the load's (and the vacuum's) dirty pages.
 * Without it the 10M side was measured while gigabytes were written behind it: the same code's
 * export took 4.19 s on the 1M-row store and 5.98 s on the 10M one (1.43) without it, 3.94 and
 * 4.18 s (1.06) with it, the next run.
 */
async function settle(harness: Harness, databaseUrl: string) {
  await harness.sh('psql "$DATABASE_URL" -qAt -c "vacuum analyze cdrs" -c "checkpoint"', {
    DATABASE_URL: databaseUrl,
  });
}

/** The small store: a database of its own beside the run's, and a data folder of its own (each
 * server's retention would otherwise remove the other's export files as never published). */
async function smallStore(harness: Harness) {
  const store = await serverStore('scale_small', harness.databaseUrl);
  return {
    env: { DATABASE_URL: store.databaseUrl, CDREX_DATA_DIR: path.join(harness.work, 'data-small') },
    remove: () => store.remove(),
  };
}

export async function measureScale(harness: Harness, totalRows: number, runs: number) {
  checkDisk(harness.work, totalRows + totalRows / ACCOUNTS);
  const small = await smallStore(harness);
  let smallServer: ChildProcess | undefined;
  try {
    await harness.cli(['migrate']);
    await harness.cli(['migrate'], small.env);
    const accounts: Account[] = [];
    for (let i = 0; i < ACCOUNTS; i++)
      accounts.push(
        (await harness.cli(['accounts', 'create', '--name', `scale-${i}`])) as unknown as Account,
      );
    const alone = (await harness.cli(
      ['accounts', 'create', '--name', 'scale-small'],
      small.env,
    )) as unknown as Account;
    const monthRows = Math.floor(totalRows / ACCOUNTS);
    log(`scale: loading one account's month, ${monthRows.toLocaleString('en-US')} rows, into each store`);
    const month = ['--type', 'cdr_in', '--month', monthBefore(0), '--rows', String(monthRows), '--seed', '1'];
    await harness.cli(['generate', '--account', accounts[0].account_id, ...month]);
    await harness.cli(['generate', '--account', alone.account_id, ...month], small.env);
    const loadRate = await loadRest(harness, accounts, totalRows - monthRows);
    await settle(harness, small.env.DATABASE_URL);
    await settle(harness, harness.databaseUrl);
    const smallServe = await harness.serve(small.env);
    smallServer = smallServe.child;
    const smallSide = { base: smallServe.base, account: alone };
    const largeSide = { base: (await harness.serve()).base, account: accounts[0] };
    const [smallPoint, largePoint] = await measurePoints(smallSide, largeSide, runs);
    return scaleRows(totalRows, monthRows, smallPoint, largePoint, loadRate);
  } finally {
    // Stopped first: a server whose database is dropped under it logs its lost connections.
    if (smallServer?.exitCode === null) {
      const exited = new Promise((r) => smallServer!.once('exit', r));
      smallServer.kill('SIGTERM');
      await exited;
    }
    await small.remove().catch(() => {});
  }
}

function scaleRows(total: number, month: number, small: Point, large: Point, loadRate: number): Row[] {
  const n = (x: number) => `${x.toLocaleString('en-US')} rows`;
  const pageRatio = large.pageP99 / small.pageP99;
  const exportRatio = large.exportMs / small.exportMs;
  return [
    {
      key: 'scale_10m_page_p99_ratio',
      cdrex: `${n(total)}: ${large.pageP99.toFixed(1)} ms (healthz ${large.healthzP99.toFixed(1)})`,
      baseline: `${n(month)}: ${small.pageP99.toFixed(1)} ms (healthz ${small.healthzP99.toFixed(1)})`,
      ratio: pageRatio,
      target: '≤ 1.2',
      pass: pageRatio <= 1.2,
    },
    {
      key: 'scale_10m_export_ratio',
      cdrex: `${n(total)}: ${(large.exportMs / 1000).toFixed(2)} s`,
      baseline: `${n(month)}: ${(small.exportMs / 1000).toFixed(2)} s`,
      ratio: exportRatio,
      target: '≤ 1.1',
      pass: exportRatio <= 1.1,
    },
    {
      key: 'scale_10m_summary_ratio',
      cdrex: `${n(total)}: ${large.summaryMs.toFixed(0)} ms`,
      baseline: `${n(month)}: ${small.summaryMs.toFixed(0)} ms`,
      ratio: large.summaryMs / small.summaryMs,
      target: '—',
      pass: null,
    },
    {
      key: 'scale_load_rows_per_s',
      cdrex: `${Math.round(loadRate).toLocaleString('en-US')} rows/s`,
      baseline: '—',
      ratio: loadRate,
      target: 'reported',
      pass: null,
    },
  ];
}
