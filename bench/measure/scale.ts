// `npm run bench -- --scale [--scale-rows N]` (N default 10,000,000; not in CI): does the store
// stay as fast when it holds ten times the rows? One account's month of N/10 rows is measured
// alone (Kazoo first page p99, that month's export, its summary), then the other 9N/10 rows are
// loaded (10 accounts, 3 months, `cdrex generate`'s number/trunk/traffic distributions) and the
// same three are measured again on the same server. The ratios are large over small.
import fs from 'node:fs';
import {
  LATENCY_SAMPLES,
  logger,
  median,
  MONTH_END,
  MONTH_START,
  percentile,
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

/** The three measures on one account's month: page p99 of LATENCY_SAMPLES (each after a /healthz,
 * as in the main run, so that the machine's own tail shows beside it), export and summary medians. */
async function measurePoint(base: string, a: Account, runs: number): Promise<Point> {
  const range = `created_from=${MONTH_START.getTime() / 1000 + GREGORIAN}&created_to=${MONTH_END.getTime() / 1000 - 1 + GREGORIAN}`;
  const headers = { 'X-Auth-Token': a.api_key };
  const page = `${base}/v2/accounts/${a.account_id}/cdrs?page_size=50&${range}`;
  const [healths, pages] = await timeRequests(headers, [`${base}/healthz`, page], LATENCY_SAMPLES);
  const summary = `${base}/v2/accounts/${a.account_id}/cdrs/summary?bucket=day&${range}`;
  const [summaries] = await timeRequests(headers, [summary], 5, 0);
  const exports: number[] = [];
  for (let i = 0; i < runs; i++) exports.push((await timed(() => runExport(base, a.api_key))).ms);
  const point = {
    pageP99: percentile(pages, 0.99),
    healthzP99: percentile(healths, 0.99),
    exportMs: median(exports),
    summaryMs: median(summaries),
  };
  const each = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  log(
    `scale: page p50 ${percentile(pages, 0.5).toFixed(1)} / p99 ${point.pageP99.toFixed(1)} ms (healthz p99 ${point.healthzP99.toFixed(1)} ms), exports ${each(exports)} ms, summaries ${each(summaries)} ms`,
  );
  return point;
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
async function settle(harness: Harness) {
  await harness.sh('psql "$DATABASE_URL" -qAt -c "vacuum analyze cdrs" -c "checkpoint"');
}

export async function measureScale(harness: Harness, totalRows: number, runs: number) {
  checkDisk(harness.work, totalRows);
  await harness.cli(['migrate']);
  const accounts: Account[] = [];
  for (let i = 0; i < ACCOUNTS; i++)
    accounts.push((await harness.cli(['accounts', 'create', '--name', `scale-${i}`])) as unknown as Account);
  const monthRows = Math.floor(totalRows / ACCOUNTS);
  log(`scale: loading one account's month, ${monthRows.toLocaleString('en-US')} rows`);
  const argv = ['generate', '--account', accounts[0].account_id, '--type', 'cdr_in'];
  await harness.cli([...argv, '--month', monthBefore(0), '--rows', String(monthRows), '--seed', '1']);
  await settle(harness);
  const { base } = await harness.serve();
  const small = await measurePoint(base, accounts[0], runs);
  const loadRate = await loadRest(harness, accounts, totalRows - monthRows);
  await settle(harness);
  const large = await measurePoint(base, accounts[0], runs);
  return scaleRows(totalRows, monthRows, small, large, loadRate);
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
