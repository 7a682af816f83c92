// Times GET requests in a process of its own, so that only the server's latency is measured: the
// bench process, by the time it times pages, holds what its loads and exports left behind, and
// its own collections would count as the server's tail. One kept-alive connection, one request at
// a time, as autocannon -c 1 sends them. The plan comes in CDREX_LATENCY_PLAN; the samples, one
// array per URL in the plan's order, go to stdout as JSON.
import http from 'node:http';

export interface LatencyPlan {
  headers: Record<string, string>;
  /** Requested in turn, `samples` times each. */
  urls: string[];
  samples: number;
  /** Requests `urls` in turn for this long first, uncounted. */
  warmUpMs: number;
}

const plan = JSON.parse(process.env.CDREX_LATENCY_PLAN ?? '') as LatencyPlan;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const start = process.hrtime.bigint();
    http
      .get(url, { headers: plan.headers, agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
        res.on('error', reject);
      })
      .on('error', reject);
  });

for (const end = Date.now() + plan.warmUpMs; Date.now() < end;) for (const url of plan.urls) await get(url);
const samples: number[][] = plan.urls.map(() => []);
for (let i = 0; i < plan.samples; i++)
  for (const [u, url] of plan.urls.entries()) samples[u].push(await get(url));
agent.destroy();
process.stdout.write(JSON.stringify(samples));
