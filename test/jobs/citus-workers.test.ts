// Several cdrex processes on one Citus cluster (docs/scale-out.md): four `cdrex worker` and two
// `cdrex serve` share the distributed store and one CDREX_EXPORT_DIR. 40 exports of 10 accounts
// are asked for on either server; each is completed exactly once, each file holds every row of
// its account, and each file is served by the server that did not take the request. Skipped,
// with the reason, when the run's server is not a Citus coordinator (the same processes on one
// PostgreSQL are what the other tests run).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import { isCitus } from '../../src/store/citus.js';
import { spawnCdrex, type SpawnedCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  freePort,
  startServer,
  testEnv,
  THIS_MONTH,
  THIS_YEAR,
  untilServing,
  waitFor,
} from '../helpers/server.js';

const ACCOUNTS = 10;
const EXPORTS_PER_ACCOUNT = 4;
const ROWS = 300;

const db = await createTestDatabase();
const skip = (await isCitus(db.pool))
  ? false
  : 'the store is not Citus: run with DATABASE_URL on a Citus coordinator (.ci/run does)';
if (skip) process.stdout.write(`# skipped: ${skip}\n`);

test(
  '4 workers and 2 servers on the cluster: 40 exports, each once, every row, files served by either',
  { skip },
  async () => {
    // Accounts and CDRs through this process's pools; the service runs in the spawned processes.
    const seeder = await startServer(db, { worker: false });
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-citus-'));
    after(() => fs.rmSync(shared, { recursive: true, force: true }));
    const exportDir = path.join(shared, 'exports');
    const env = (extra: Record<string, string>) =>
      testEnv(db, path.join(shared, 'data'), { CDREX_EXPORT_DIR: exportDir, CDREX_CITUS: '1', ...extra });

    const accounts: { account_id: string; api_key: string; rows: number }[] = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const account = await seeder.newAccount(`citus-${i}`);
      const rows = await seeder.seed(account.account_id, 'cdr_in', ROWS + i, 100 + i);
      accounts.push({ ...account, rows });
    }

    const servers: { base: string; child: SpawnedCdrex }[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawnCdrex(['serve', '--no-worker'], env({ PORT: String(port) }));
      servers.push({ base: `http://127.0.0.1:${port}`, child });
    }
    const bases = servers.map((s) => s.base);
    const workers = [0, 1, 2, 3].map(() => spawnCdrex(['worker'], env({ CDREX_WORKER_CONCURRENCY: '2' })));
    for (const { base, child } of servers) await untilServing(child, base);

    // Each export is asked for on one server; its file is later fetched from the other.
    const asked: { id: string; account: (typeof accounts)[number]; other: string }[] = [];
    for (let n = 0; n < EXPORTS_PER_ACCOUNT; n++) {
      for (const [i, account] of accounts.entries()) {
        const base = bases[(n + i) % 2];
        const res = await fetch(`${base}/v3/exports`, {
          method: 'POST',
          headers: { 'Api-Key': account.api_key, 'Content-Type': 'application/vnd.api+json' },
          body: JSON.stringify({
            data: {
              type: 'exports',
              attributes: { export_type: 'cdr_in', filters: { year: THIS_YEAR, month: THIS_MONTH } },
            },
          }),
        });
        assert.equal(res.status, 201, await res.clone().text());
        const { data } = (await res.json()) as { data: { id: string } };
        asked.push({ id: data.id, account, other: bases[(n + i + 1) % 2] });
      }
    }
    assert.equal(asked.length, ACCOUNTS * EXPORTS_PER_ACCOUNT);

    for (const { id, account, other } of asked) {
      const url = await waitFor(
        async () => {
          const res = await fetch(`${other}/v3/exports/${id}`, { headers: { 'Api-Key': account.api_key } });
          const body = (await res.json()) as { data: { attributes: { status: string; url: string | null } } };
          assert.notEqual(body.data.attributes.status, 'Failed', `export ${id} failed`);
          return body.data.attributes.url;
        },
        `export ${id} to complete`,
        240_000,
      );
      const file = await fetch(`${other}${new URL(url).pathname}`, {
        headers: { 'Api-Key': account.api_key },
      });
      assert.equal(file.status, 200, `the other server serves ${id}'s file`);
      const lines = zlib
        .gunzipSync(Buffer.from(await file.arrayBuffer()))
        .toString()
        .trim()
        .split('\n');
      assert.equal(lines.length - 1, account.rows, `export ${id}: every row of its account, header aside`);
    }

    // Exactly once: one completion across all four workers' logs per export, one file each.
    // A worker logs the completion after its commit, so the last lines may still be on their way.
    const completions = () => workers.flatMap((w) => w.logs).filter((l) => l.msg === 'export completed');
    await waitFor(async () => completions().length >= asked.length, 'every completion to be logged');
    assert.equal(completions().length, asked.length, 'one completion per export');
    assert.equal(new Set(completions().map((l) => l.file)).size, asked.length, 'a file of its own each');
    const { rows } = await db.pool.query<{ n: string; files: string }>(
      `select count(*) as n, count(distinct f.file_name) as files
       from exports e join export_files f on f.export_id = e.id where e.status = 'completed'`,
    );
    assert.deepEqual(rows[0], { n: String(asked.length), files: String(asked.length) });
    const published = fs.readdirSync(exportDir).filter((f) => !f.startsWith('.tmp-'));
    assert.equal(published.length, asked.length, 'one file per export in the shared directory');
  },
);
