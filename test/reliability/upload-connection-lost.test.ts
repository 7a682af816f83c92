// The database connection of an upload lost in the middle (a failover, a restart, an operator's
// pg_terminate_backend): the real `cdrex serve` answers that upload 503 with Retry-After, stores
// nothing of it, stays up, and the same upload sent again is stored whole, once.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer, testEnv, untilServing, waitFor } from '../helpers/server.js';

const db = await createTestDatabase();
const helper = await startServer(db, { worker: false });
const account = await helper.newAccount('uploader');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const ROWS = 2000;
const lines = Array.from({ length: ROWS }, (_, i) =>
  JSON.stringify({ call_id: `lost-${i}`, timestamp: nowG - 3600 + i, duration_seconds: 30 }),
);

const port = await new Promise<number>((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = probe.address() as net.AddressInfo;
    probe.close(() => resolve(p));
  });
});
const base = `http://127.0.0.1:${port}`;
const serve = spawnCdrex(['serve'], testEnv(db, helper.config.dataDir, { PORT: String(port) }));
await untilServing(serve, base);
const healthy = () =>
  fetch(`${base}/healthz`).then(
    (r) => r.ok,
    () => false,
  );

async function stored(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "select count(*)::int as n from cdrs where account_id = $1 and call_id like 'lost-%'",
    [account.account_id],
  );
  return rows[0].n;
}

test('an upload whose database connection is lost gets 503, stores nothing, and the server stays up', async () => {
  // Half the body, then hold: the upload's COPY is open and waiting for the rest.
  const req = http.request(`${base}/v2/accounts/${account.account_id}/cdrs`, {
    method: 'PUT',
    agent: false,
    headers: { 'X-Auth-Token': account.api_key, 'Content-Type': 'application/x-ndjson' },
  });
  const answer = new Promise<{ status: number; retryAfter?: string; body: string }>((resolve) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string, body }),
      );
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
  req.write(`${lines.slice(0, ROWS / 2).join('\n')}\n`);
  let terminated = 0;
  await waitFor(async () => {
    const { rows } = await db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and query ilike 'copy cdrs%'`,
    );
    terminated += rows.length;
    return terminated > 0;
  }, "the upload's COPY to be under way");
  req.end(`${lines.slice(ROWS / 2).join('\n')}\n`);
  const { status, retryAfter, body } = await answer;
  assert.equal(status, 503, body);
  assert.ok(Number(retryAfter) >= 1, 'Retry-After');
  assert.equal(JSON.parse(body).status, 'error');
  assert.equal(serve.proc.exitCode, null, 'cdrex serve is still running');
  assert.ok(await healthy());
  assert.equal(await stored(), 0, 'nothing of the interrupted upload is stored');

  const again = await fetch(`${base}/v2/accounts/${account.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': account.api_key, 'Content-Type': 'application/x-ndjson' },
    body: `${lines.join('\n')}\n`,
  });
  assert.equal(again.status, 201, await again.clone().text());
  assert.deepEqual(((await again.json()) as { data: unknown }).data, {
    inserted: ROWS,
    duplicates: 0,
    rejected: [],
  });
  assert.equal(await stored(), ROWS);
});
