// `npm run bench:rss -- --rows N [--runs R]`: the peak resident memory of `cdrex serve` during R exports (3) of
// a month of N CDRs, to check that memory does not grow with the size of the export (the
// benchmark's export_peak_rss_mb must hold within 10% at 3× the rows). Run it at 1M and at 3M.
import { parseArgs } from 'node:util';
import { createExport, exportUrl, logger, MONTH, openHarness, peakRss, rssMb, timed } from './harness.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string' }, runs: { type: 'string' } } });
const ROWS = Number(args.rows ?? 1_000_000);
const RUNS = Number(args.runs ?? 3);
const log = logger('bench:rss');

const harness = await openHarness('rss', { CDREX_RATE_LIMIT: '100000' });
try {
  await harness.cli(['migrate']);
  const account = (await harness.cli(['accounts', 'create', '--name', 'rss'])) as {
    account_id: string;
    api_key: string;
  };
  log(`generating ${ROWS} rows`);
  await harness.cli(
    ['generate', '--account', account.account_id, '--type', 'cdr_in', '--month', MONTH].concat([
      '--rows',
      String(ROWS),
      '--seed',
      '1',
    ]),
  );
  const { base, child } = await harness.serve();
  const idle = rssMb(child.pid!) ?? 0;
  // Several exports on one server, as the benchmark runs them: what the first leaves behind
  // (pooled connections, the heap's size) counts in the next one's peak.
  for (let i = 1; i <= RUNS; i++) {
    const run = await peakRss(child.pid!, () =>
      timed(async () => exportUrl(base, account.api_key, await createExport(base, account.api_key))),
    );
    console.log(
      `rows ${ROWS}, export ${i}: ${(run.value.ms / 1000).toFixed(2)} s, server RSS idle ${idle.toFixed(0)} MB, peak ${run.peakMb.toFixed(0)} MB`,
    );
  }
} finally {
  await harness.cleanup();
}
