// The bench's table: one row per documented key (docs/performance.md), printed, and written to
// bench/results/latest.json with the absolute figures beside the ratios.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../harness.js';
import { DEFAULT_SLICES, exportAt, type ExportTimes } from './exports.js';
import { type KazooTimes, p99 } from './kazoo.js';
import type { Storage } from './storage.js';

export interface Row {
  key: string;
  cdrex: string;
  baseline: string;
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

export interface Measures {
  exports: ExportTimes;
  kazoo: KazooTimes;
  storage: Storage;
  imports: { importRate: number; copyRate: number };
  uploadRate: number;
  parallel: { singleRate: number; parallelRate: number };
  /** The `--scale` rows when that ran; else both print as not measured. */
  scale?: Row[];
}

const fmtMs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmtRate = (r: number) => `${Math.round(r).toLocaleString('en-US')} rows/s`;

function exportRows(e: ExportTimes): Row[] {
  const byDefault = exportAt(e, DEFAULT_SLICES);
  return [
    {
      key: 'export_time_ratio',
      cdrex: `${fmtMs(byDefault.cdrex)} (${DEFAULT_SLICES} slices)`,
      baseline: fmtMs(byDefault.baseline),
      ratio: byDefault.ratio,
      target: '≤ 0.6',
      pass: byDefault.ratio <= 0.6,
    },
    // The same export cut into 1, 2 and 4 slices, each against the baseline runs it alternated with.
    ...e.sliceCounts.map((slices) => {
      const at = exportAt(e, slices);
      const row: Row = {
        key: `export_time_ratio_${slices}s`,
        cdrex: fmtMs(at.cdrex),
        baseline: fmtMs(at.baseline),
        ratio: at.ratio,
        target: '—',
        pass: null,
      };
      return row;
    }),
    {
      key: 'export_size_ratio',
      cdrex: `${(e.cdrexSize / 1e6).toFixed(1)} MB`,
      baseline: `${(e.baselineSize / 1e6).toFixed(1)} MB`,
      ratio: e.cdrexSize / e.baselineSize,
      target: '≤ 1.05',
      pass: e.cdrexSize / e.baselineSize <= 1.05,
    },
    {
      key: 'export_peak_rss_mb',
      cdrex: `${e.rssPeak.toFixed(0)} MB`,
      baseline: '—',
      ratio: e.rssPeak,
      target: '≤ 200',
      pass: e.rssPeak <= 200,
    },
  ];
}

function loadRows(m: Measures): Row[] {
  const { importRate, copyRate } = m.imports;
  const { singleRate, parallelRate } = m.parallel;
  return [
    {
      key: 'import_speed_ratio',
      cdrex: fmtRate(importRate),
      baseline: fmtRate(copyRate),
      ratio: importRate / copyRate,
      target: '≥ 0.95',
      pass: importRate / copyRate >= 0.95,
    },
    {
      key: 'parallel_export_ratio',
      cdrex: fmtRate(parallelRate),
      baseline: `${fmtRate(singleRate)} (one)`,
      ratio: parallelRate / singleRate,
      target: '≥ 0.9',
      pass: parallelRate / singleRate >= 0.9,
    },
    {
      key: 'upload_speed_ratio',
      cdrex: fmtRate(m.uploadRate),
      baseline: fmtRate(copyRate),
      ratio: m.uploadRate / copyRate,
      target: '≥ 0.6',
      pass: m.uploadRate / copyRate >= 0.6,
    },
  ];
}

function latencyAndStorageRows({ kazoo, storage }: Measures): Row[] {
  const worst = Math.max(p99(kazoo.firstPage), p99(kazoo.deepPage));
  return [
    {
      key: 'kazoo_page_p99_ms',
      cdrex: `first ${p99(kazoo.firstPage).toFixed(1)} / deep ${p99(kazoo.deepPage).toFixed(1)} ms`,
      baseline: `healthz ${p99(kazoo.healthz).toFixed(1)} ms`,
      ratio: worst,
      target: '≤ 5',
      pass: worst <= 5,
    },
    {
      key: 'healthz_p99_ms',
      cdrex: `${p99(kazoo.healthz).toFixed(1)} ms`,
      baseline: '—',
      ratio: p99(kazoo.healthz),
      target: '—',
      pass: null,
    },
    {
      key: 'bytes_per_cdr',
      cdrex: `${storage.perCdr.toFixed(0)} B (${storage.rows.toLocaleString('en-US')} CDRs)`,
      baseline: `table ${storage.table.toFixed(0)} + indexes ${storage.indexes.toFixed(0)} + toast ${storage.toast.toFixed(0)}`,
      ratio: storage.perCdr,
      target: 'reported',
      pass: null,
    },
  ];
}

/** The 10M-row comparison runs only with `--scale`; printed without it so the table stays whole. */
export const SCALE_NOT_MEASURED: Row[] = ['scale_10m_page_p99_ratio', 'scale_10m_export_ratio'].map(
  (key) => ({
    key,
    cdrex: '—',
    baseline: '—',
    ratio: null,
    target: key.includes('page') ? '≤ 1.2' : '≤ 1.1',
    pass: null,
  }),
);

export function buildTable(m: Measures): Row[] {
  return [
    ...exportRows(m.exports),
    ...loadRows(m),
    ...latencyAndStorageRows(m),
    ...(m.scale ?? SCALE_NOT_MEASURED),
  ];
}

export function printTable(title: string, table: Row[]) {
  const cells = table.map((r) => [
    r.key,
    r.cdrex,
    r.baseline,
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    r.target,
    r.pass === null ? (r.ratio === null ? 'not measured' : '—') : r.pass ? 'pass' : 'FAIL',
  ]);
  const head = ['key', 'cdrex', 'baseline', 'ratio', 'target', 'pass'];
  // Each column as wide as its longest cell, two spaces apart: no figure runs into the next.
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)) + 2);
  const line = (row: string[]) => row.map((c, i) => (i < row.length - 1 ? c.padEnd(widths[i]) : c)).join('');
  console.log(`\n${title}\n`);
  console.log(line(head));
  for (const row of cells) console.log(line(row));
}

export interface Extras {
  rows: number;
  postgresVersion: string;
  fsRate: number;
  portal?: { coldMs: number; monthMs: number };
}

export function writeResults(table: Row[], m: Measures, x: Extras) {
  const results: Record<string, number | string | null> = {
    rows: x.rows,
    postgres_version: x.postgresVersion,
  };
  for (const r of table) results[r.key] = r.ratio === null ? null : Number(r.ratio.toFixed(3));
  results.kazoo_first_page_p99_ms = Number(p99(m.kazoo.firstPage).toFixed(2));
  results.kazoo_deep_page_p99_ms = Number(p99(m.kazoo.deepPage).toFixed(2));
  results.kazoo_csv_month_s = Number((m.kazoo.csvMs / 1000).toFixed(2));
  results.kazoo_csv_month_mb = Number((m.kazoo.csvBytes / 1e6).toFixed(1));
  results.upload_rows_per_s = Math.round(m.uploadRate);
  if (x.portal) {
    results.portal_cold_load_ms = Math.round(x.portal.coldMs);
    results.portal_month_first_page_ms = Math.round(x.portal.monthMs);
  }
  results.freeswitch_posts_per_s = Math.round(x.fsRate);
  const byDefault = exportAt(m.exports, DEFAULT_SLICES);
  results.export_slices = DEFAULT_SLICES;
  results.export_cdrex_s = Number((byDefault.cdrex / 1000).toFixed(2));
  results.export_baseline_s = Number((byDefault.baseline / 1000).toFixed(2));
  results.bytes_per_cdr_table = Number(m.storage.table.toFixed(1));
  results.bytes_per_cdr_indexes = Number(m.storage.indexes.toFixed(1));
  results.bytes_per_cdr_toast = Number(m.storage.toast.toFixed(1));
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', 'latest.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );
}
