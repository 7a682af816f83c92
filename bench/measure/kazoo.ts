// Kazoo: page latency (first page and 10,000 rows deep) beside /healthz's, and the month as CSV.
import {
  LATENCY_SAMPLES,
  logger,
  MONTH_END,
  MONTH_START,
  percentile,
  timed,
  timeRequests,
} from '../harness.js';
import { type Bench, GREGORIAN } from './context.js';

const log = logger('bench');
export const p99 = (xs: number[]) => percentile(xs, 0.99);

export interface KazooTimes {
  firstPage: number[];
  deepPage: number[];
  healthz: number[];
  csvMs: number;
  csvBytes: number;
}

export async function measureKazoo(bench: Bench, base: string): Promise<KazooTimes> {
  const accountId = bench.main.account_id;
  const monthRange = `created_from=${MONTH_START.getTime() / 1000 + GREGORIAN}&created_to=${MONTH_END.getTime() / 1000 - 1 + GREGORIAN}`;
  const listUrl = (key?: string) =>
    `${base}/v2/accounts/${accountId}/cdrs?page_size=50&${monthRange}${key ? `&start_key=${key}` : ''}`;
  const headers = { 'X-Auth-Token': bench.main.api_key };
  /**
   * Timed requests of `url`, each right after one of /healthz (one store query, no page work):
   * both see the same machine, so the page's own tail shows beside the machine's. After a warm-up,
   * since the server was started just before: its first seconds are V8 compiling and the pools
   * opening connections, which a server that has been up for minutes no longer pays.
   */
  const healthz: number[] = [];
  const pageTimes = async (url: string) => {
    const [health, page] = await timeRequests(headers, [`${base}/healthz`, url], LATENCY_SAMPLES);
    healthz.push(...health);
    return page;
  };
  const firstPage = await pageTimes(listUrl());
  let deepKey: string | undefined;
  for (let i = 0; i < 200; i++) {
    const body = (await (await fetch(listUrl(deepKey), { headers })).json()) as { next_start_key?: string };
    deepKey = body.next_start_key;
  }
  const deepPage = await pageTimes(listUrl(deepKey));
  const csv = await timed(async () => {
    const res = await fetch(`${base}/v2/accounts/${accountId}/cdrs?${monthRange}`, {
      headers: { ...headers, Accept: 'text/csv' },
    });
    let bytes = 0;
    for await (const chunk of res.body!) bytes += (chunk as Uint8Array).length;
    return bytes;
  });
  log(
    `kazoo: first page p99 ${p99(firstPage).toFixed(1)} ms (healthz ${p99(healthz).toFixed(1)} ms), deep ${p99(deepPage).toFixed(1)} ms, CSV ${csv.ms.toFixed(0)} ms`,
  );
  return { firstPage, deepPage, healthz, csvMs: csv.ms, csvBytes: csv.value };
}
