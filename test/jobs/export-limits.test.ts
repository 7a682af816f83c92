// Promise: one account cannot take every worker. At most CDREX_EXPORTS_PER_ACCOUNT of its exports
// run at once, however many it queues, while another account's export still gets a worker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const ROWS = 60_000;
const server = await startServer(await createTestDatabase(), {
  env: { CDREX_EXPORTS_PER_ACCOUNT: '1', CDREX_WORKER_CONCURRENCY: '3' },
});
const greedy = await server.newAccount('greedy');
const other = await server.newAccount('other');
await server.seed(greedy.account_id, 'cdr_in', ROWS, 1);
await server.seed(other.account_id, 'cdr_in', ROWS, 2);
const filters = { year: THIS_YEAR, month: THIS_MONTH };

test('an account runs at most its cap of exports at once; other accounts are not starved', async () => {
  const greedyIds = [];
  for (let i = 0; i < 4; i++)
    greedyIds.push(await server.createExport(greedy.api_key, { export_type: 'cdr_in', filters }));
  const otherId = await server.createExport(other.api_key, { export_type: 'cdr_in', filters });

  let maxGreedy = 0;
  let overlapped = false;
  // Generous (tests never time speed), but bounded: a queue that stops moving fails, not hangs.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await server.db.pool.query<{ account_id: string; status: string; n: number }>(
      `select account_id, status, count(*)::int as n from exports group by account_id, status`,
    );
    const running = (account: string) =>
      rows.find((r) => r.account_id === account && r.status === 'processing')?.n ?? 0;
    maxGreedy = Math.max(maxGreedy, running(greedy.account_id));
    if (running(greedy.account_id) > 0 && running(other.account_id) > 0) overlapped = true;
    const done = rows.filter((r) => r.status === 'completed').reduce((n, r) => n + r.n, 0);
    if (done === 5) break;
    assert.ok(!rows.some((r) => r.status === 'failed'), 'no export failed');
    assert.ok(Date.now() < deadline, `only ${done} of 5 exports completed: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(maxGreedy, 1, 'never more than one of its exports at once');
  assert.ok(overlapped, "the other account's export ran beside the greedy account's");
  for (const id of [...greedyIds, otherId]) {
    const key = id === otherId ? other.api_key : greedy.api_key;
    assert.ok(await server.exportFileUrl(key, id));
  }
});
