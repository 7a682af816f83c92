// Promise (issue 12, finding 5): a silent network partition during an export is noticed in
// seconds, not hours. The real `cdrex worker` reaches PostgreSQL through a TCP proxy that the
// test silences mid-COPY (connections stay open, nothing is relayed: no FIN, no RST):
// - the COPY's no-progress watchdog (CDREX_COPY_STALL_MS) destroys the client and gives the job
//   back;
// - with the watchdog out of the way, the lease renewal that gets no answer does the same.
// Once the network returns, the export completes with every row.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import { spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, testEnv, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const ROWS = 200_000;
const db = await createTestDatabase();
const helper = await startServer(db, { worker: false });
const account = await helper.newAccount('partition');
await helper.seed(account.account_id, 'cdr_in', ROWS, 21);
const dbName = new URL(db.url).pathname.slice(1);

function startWorker(databaseUrl: string, env: Record<string, string>) {
  return spawnCdrex(['worker'], testEnv(db, helper.config.dataDir, { DATABASE_URL: databaseUrl, ...env }));
}

const status = async (id: string) =>
  (
    (await (
      await fetch(`${helper.base}/v3/exports/${id}`, { headers: { 'Api-Key': account.api_key } })
    ).json()) as { data: { attributes: { status: string; url: string | null } } }
  ).data.attributes;

/** What the worker logged last, for whoever reads a failure; then the failure itself. */
const printWorkerLog =
  (worker: { logs: unknown[] }) =>
  (err: unknown): never => {
    for (const line of worker.logs.slice(-40)) console.log(`# worker: ${JSON.stringify(line)}`);
    throw err;
  };

const cases = [
  {
    name: "the COPY's no-progress watchdog",
    // Not much less: the watchdog also guards the export's next run, and on a loaded CI machine
    // a COPY can be a second late to start (a 1 s watchdog then gave every retry back for 60 s).
    env: { CDREX_COPY_STALL_MS: '2500', CDREX_LEASE_MS: '8000' },
    cause: /no data from the database/,
  },
  {
    name: 'the lease renewal that gets no answer',
    env: { CDREX_COPY_STALL_MS: '600000', CDREX_LEASE_MS: '3000' },
    cause: /lease could not be renewed/,
  },
];

for (const c of cases) {
  test(`a silent partition mid-COPY is noticed by ${c.name}; the export then completes`, async () => {
    const proxy = await startTcpProxy(db.url);
    after(() => proxy.close());
    const worker = startWorker(proxy.url, c.env);
    const id = await helper.createExport(account.api_key, {
      export_type: 'cdr_in',
      filters: { year: THIS_YEAR, month: THIS_MONTH },
    });
    await waitFor(
      async () => {
        const { rows } = await db.pool.query(
          `select 1 from pg_stat_activity
            where datname = $1 and usename = 'cdrex_app' and state = 'active' and query ilike 'copy (select%'`,
          [dbName],
        );
        return rows.length > 0;
      },
      "the export's COPY to be running",
      60_000,
    );
    proxy.silence();
    const silenced = Date.now();
    const given = await waitFor(
      async () =>
        worker.logs.find((l) => l.export === id && l.msg === 'database connection lost; job given back'),
      'the worker to notice the partition',
      30_000,
    ).catch(printWorkerLog(worker));
    console.log(`# ${c.name}: noticed ${Date.now() - silenced} ms after the partition began`);
    assert.match(JSON.stringify(given.err), c.cause);
    assert.equal(worker.proc.exitCode, null, 'the worker is still running');

    proxy.restore();
    const restored = Date.now();
    const url = await waitFor(async () => (await status(id)).url, 'the export to complete', 60_000).catch(
      printWorkerLog(worker),
    );
    console.log(`# ${c.name}: export completed ${Date.now() - restored} ms after the network returned`);
    const res = await fetch(url, { headers: { 'Api-Key': account.api_key } });
    const lines = zlib
      .gunzipSync(Buffer.from(await res.arrayBuffer()))
      .toString('utf8')
      .split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, ROWS + 1, 'every row');
    worker.proc.kill('SIGTERM');
    await new Promise((r) => worker.proc.once('exit', r));
  });
}
