// Exports: cdrex (API request to file complete) against psql's \copy of the same SELECT piped
// through gzip -6, at 1, 2, 4 and the default slice count; and 8 accounts' exports at once
// against one alone.
import fs from 'node:fs';
import path from 'node:path';
import { defaultExportSlices } from '../../src/config.js';
import { exportSelect } from '../../src/export/export-file.js';
import { SqlParams } from '../../src/store/queries/cdr-search.js';
import type { ExportRow } from '../../src/store/queries/exports.js';
import {
  createExport,
  exportUrl,
  logger,
  median,
  MONTH,
  MONTH_END,
  MONTH_START,
  peakRss,
  timed,
} from '../harness.js';
import { type Account, alternate, type Bench } from './context.js';

export const PARALLEL = 8;
export const DEFAULT_SLICES = defaultExportSlices();
const log = logger('bench');

/** API request to file complete; returns the file's size. */
export async function runExport(base: string, key: string): Promise<number> {
  const url = await exportUrl(base, key, await createExport(base, key));
  const head = await fetch(url, { method: 'HEAD', headers: { 'Api-Key': key } });
  return Number(head.headers.get('content-length'));
}

/** The export's SELECT with its (our own, constant) values written in, for the psql baseline. */
function baselineSelect(accountId: string): string {
  const params = new SqlParams();
  const row = {
    dialect: 'exports',
    export_type: 'cdr_in',
    account_id: accountId,
    range_from: MONTH_START,
    range_to: MONTH_END,
    did_number: null,
    voice_out_trunk_id: null,
  } as ExportRow;
  return exportSelect(row, params)
    .replace(/\$(\d+)/g, (_, n: string) => {
      const v = params.values[Number(n) - 1];
      return `'${(v instanceof Date ? v.toISOString() : String(v)).replace(/'/g, "''")}'`;
    })
    .replace(/\s+/g, ' ');
}

export interface ExportTimes {
  sliceCounts: number[];
  times: Map<number, { cdrex: number[]; baseline: number[] }>;
  cdrexSize: number;
  baselineSize: number;
  rssPeak: number;
}

/**
 * One `cdrex serve` per slice count (CDREX_EXPORT_SLICES), each alone against the database so
 * that no other worker takes its exports; each count alternates with its own baseline runs.
 */
export async function measureExports(bench: Bench): Promise<ExportTimes> {
  const select = baselineSelect(bench.main.account_id);
  const baselineFile = path.join(bench.harness.work, 'baseline.csv.gz');
  const sliceCounts = [...new Set([1, 2, 4, DEFAULT_SLICES])].sort((a, b) => a - b);
  const result: ExportTimes = { sliceCounts, times: new Map(), cdrexSize: 0, baselineSize: 0, rssPeak: 0 };
  for (const slices of sliceCounts) {
    const times = { cdrex: [] as number[], baseline: [] as number[] };
    result.times.set(slices, times);
    // One export at a time here: a worker keeps connections free for its other job slots
    // (export-task.ts), which would cap the slices of a lone export at 8 slots on a pool of 10.
    const sliced = await bench.harness.serve({
      CDREX_EXPORT_SLICES: String(slices),
      CDREX_WORKER_CONCURRENCY: '1',
    });
    for (let run = 0; run < bench.runs; run++) {
      let line = '';
      const cdrexExport = async () => {
        const c = await peakRss(sliced.child.pid!, () =>
          timed(() => runExport(sliced.base, bench.main.api_key)),
        );
        times.cdrex.push(c.value.ms);
        if (slices === DEFAULT_SLICES) result.cdrexSize = c.value.value;
        result.rssPeak = Math.max(result.rssPeak, c.peakMb);
        line += ` cdrex ${c.value.ms.toFixed(0)} ms`;
      };
      const baselineExport = async () => {
        const b = await timed(() =>
          bench.harness.sh('psql "$DATABASE_URL" -qAt -c "$COPY" | gzip -6 > "$OUT"', {
            COPY: `\\copy (${select}) TO STDOUT CSV HEADER`,
            OUT: baselineFile,
          }),
        );
        times.baseline.push(b.ms);
        result.baselineSize = fs.statSync(baselineFile).size;
        line += ` baseline ${b.ms.toFixed(0)} ms`;
      };
      await alternate(bench, run, cdrexExport, baselineExport);
      log(`export, ${slices} slice(s), run ${run + 1}:${line}`);
    }
    sliced.child.kill('SIGTERM');
    await new Promise((r) => sliced.child.once('exit', r));
  }
  return result;
}

/** Median times of one slice count and their ratio. */
export function exportAt(t: ExportTimes, slices: number) {
  const { cdrex, baseline } = t.times.get(slices)!;
  return { cdrex: median(cdrex), baseline: median(baseline), ratio: median(cdrex) / median(baseline) };
}

/** 8 accounts, one export each at once, vs one alone; rows/s of each. */
export async function measureParallelExports(bench: Bench, base: string) {
  const perAccount = Math.max(1, Math.floor(bench.rows / PARALLEL));
  const accounts: Account[] = [];
  for (let i = 0; i < PARALLEL; i++) {
    const a = (await bench.harness.cli([
      'accounts',
      'create',
      '--name',
      `parallel-${i}`,
    ])) as unknown as Account;
    await bench.harness.cli([
      'generate',
      '--account',
      a.account_id,
      '--type',
      'cdr_in',
      '--month',
      MONTH,
      '--rows',
      String(perAccount),
      '--seed',
      String(100 + i),
    ]);
    accounts.push(a);
  }
  await bench.pool.query('vacuum analyze cdrs');
  const single: number[] = [];
  const parallel: number[] = [];
  for (let run = 0; run < bench.runs; run++) {
    single.push((await timed(() => runExport(base, accounts[0].api_key))).ms);
    parallel.push((await timed(() => Promise.all(accounts.map((a) => runExport(base, a.api_key))))).ms);
  }
  return {
    singleRate: perAccount / (median(single) / 1000),
    parallelRate: (perAccount * PARALLEL) / (median(parallel) / 1000),
  };
}
