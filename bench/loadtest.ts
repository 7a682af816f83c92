// `npm run loadtest`: a bounded load test on loopback. autocannon holds 100 connections for 60 s,
// each request picked at random among creating an export, showing one, listing exports, listing
// Kazoo CDRs and downloading a finished file, across several accounts, while the server's worker
// and a second `cdrex worker` process export. It then waits for every export created to complete
// and prints the figures: requests, latency, status codes (5xx must be 0), exports created and
// completed, and the server's RSS over the run (it must not keep growing).
// Options: --duration S (60), --connections N (100), --accounts N (10), --rows N per account (5000).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { BIN, createExport, exportUrl, logger, MONTH, openHarness, rssMb } from './harness.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
    connections: { type: 'string' },
    accounts: { type: 'string' },
    rows: { type: 'string' },
  },
});
const DURATION_S = Number(args.duration ?? 60);
const CONNECTIONS = Number(args.connections ?? 100);
const ACCOUNTS = Number(args.accounts ?? 10);
const ROWS = Number(args.rows ?? 5000);
/** Share of requests that create an export (the rest read). */
const CREATE_SHARE = 0.003;
const log = logger('loadtest');

const harness = await openHarness('loadtest', {
  // The load test measures capacity: the per-key limit (10/s by default) would turn it into a 429 test.
  CDREX_RATE_LIMIT: '1000000',
  CDREX_EXPORTS_PER_ACCOUNT: '2',
});
let failed: boolean;
try {
  await harness.cli(['migrate']);
  const accounts: { account_id: string; api_key: string }[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const a = (await harness.cli(['accounts', 'create', '--name', `load-${i}`])) as (typeof accounts)[number];
    await harness.cli(
      ['generate', '--account', a.account_id, '--type', 'cdr_in', '--month', MONTH].concat([
        '--rows',
        String(ROWS),
        '--seed',
        String(i + 1),
      ]),
    );
    accounts.push(a);
  }
  const { base, child: server } = await harness.serve();
  const worker = spawn(process.execPath, [BIN, 'worker'], { env: harness.env, stdio: 'ignore' });

  // One finished export per account, for the downloads and shows.
  const known = await Promise.all(
    accounts.map(async (a) => {
      const id = await createExport(base, a.api_key);
      return { ...a, id, file: new URL(await exportUrl(base, a.api_key, id)).pathname };
    }),
  );
  const G = 62167219200;
  const monthStart =
    Math.floor(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) / 1000) + G;
  const createBody = JSON.stringify({
    data: {
      type: 'exports',
      attributes: {
        export_type: 'cdr_in',
        filters: { year: new Date().getUTCFullYear(), month: new Date().getUTCMonth() + 1 },
      },
    },
  });

  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssMb(server.pid!) ?? 0), 1000);
  log(`${CONNECTIONS} connections for ${DURATION_S} s against ${base}`);
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION_S,
    requests: [
      {
        setupRequest: (req) => {
          const a = known[Math.floor(Math.random() * known.length)];
          const didww = { 'Api-Key': a.api_key, 'Content-Type': 'application/vnd.api+json' };
          const pick = Math.random();
          if (pick < CREATE_SHARE)
            return { ...req, method: 'POST', path: '/v3/exports', headers: didww, body: createBody };
          if (pick < 0.3)
            return { ...req, method: 'GET', path: `/v3/exports/${a.id}`, headers: didww, body: undefined };
          if (pick < 0.5)
            return {
              ...req,
              method: 'GET',
              path: '/v3/exports?sort=-created_at',
              headers: didww,
              body: undefined,
            };
          if (pick < 0.8)
            return {
              ...req,
              method: 'GET',
              path: `/v2/accounts/${a.account_id}/cdrs?page_size=50&created_from=${monthStart}`,
              headers: { 'X-Auth-Token': a.api_key },
              body: undefined,
            };
          return { ...req, method: 'GET', path: a.file, headers: { 'Api-Key': a.api_key }, body: undefined };
        },
      },
    ],
  });
  clearInterval(sampler);

  // Every export created under load must complete.
  const pool = new pg.Pool({ connectionString: harness.databaseUrl, max: 1 });
  const pendingSince = Date.now();
  let states: Record<string, number> = {};
  for (;;) {
    const { rows } = await pool.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from exports group by status',
    );
    states = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    if (!states.pending && !states.processing) break;
    if (Date.now() - pendingSince > 300_000) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const drainS = (Date.now() - pendingSince) / 1000;
  await pool.end();
  worker.kill('SIGTERM');

  const codes = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, v]) => [
      code,
      Number((v as { count: number }).count),
    ]),
  );
  const fivexx = Object.entries(codes)
    .filter(([code]) => code.startsWith('5'))
    .reduce((n, [, c]) => n + c, 0);
  const created =
    (states.completed ?? 0) + (states.failed ?? 0) + (states.pending ?? 0) + (states.processing ?? 0);
  const warm = rss[Math.min(rss.length - 1, 10)] ?? 0;
  const end = rss[rss.length - 1] ?? 0;
  const peak = Math.max(...rss);
  const checks: [string, boolean][] = [
    ['no 5xx answers', fivexx === 0],
    ['no connection errors or timeouts', result.errors === 0 && result.timeouts === 0],
    ['every export completed', created === (states.completed ?? 0)],
    ['RSS stable (end within 25% of the 10 s mark)', end <= warm * 1.25],
  ];
  console.log(`
cdrex loadtest: ${CONNECTIONS} connections, ${result.duration} s, ${ACCOUNTS} accounts × ${ROWS} CDRs
requests        ${result.requests.total.toLocaleString('en-US')} (${Math.round(result.requests.average)}/s average)
latency         p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms
status codes    ${JSON.stringify(codes)}
errors          ${result.errors} connection errors, ${result.timeouts} timeouts
exports         ${created} created (${created - accounts.length} under load), ${states.completed ?? 0} completed, ${states.failed ?? 0} failed; queue drained ${drainS.toFixed(1)} s after the load
server RSS      ${warm.toFixed(0)} MB at 10 s, peak ${peak.toFixed(0)} MB, ${end.toFixed(0)} MB at the end
`);
  for (const [what, ok] of checks) console.log(`${ok ? 'pass' : 'FAIL'}  ${what}`);
  failed = checks.some(([, ok]) => !ok);
} finally {
  await harness.cleanup();
}
process.exit(failed ? 1 : 0);
