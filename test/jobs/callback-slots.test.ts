// Promise (issue 11, fair sharing): callbacks run on their own slots (CDREX_CALLBACK_CONCURRENCY),
// so slow callback receivers never hold the slots exports run on. With DIDWW's 60 s timeout and
// receivers that answer nothing, every callback slot is full, and an export still completes.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, THIS_MONTH, THIS_YEAR, waitFor } from '../helpers/server.js';

/** A receiver that takes each callback and never answers (until the test ends). */
async function stallingReceiver() {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => held.push(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  after(() => {
    for (const res of held) res.destroy();
    server.close();
  });
  const { port } = server.address() as { port: number };
  return { held, url: `http://127.0.0.1:${port}/slow` };
}

const server = await startServer(await createTestDatabase(), {
  env: {
    CDREX_WORKER_CONCURRENCY: '2',
    CDREX_CALLBACK_CONCURRENCY: '2',
    CDREX_CALLBACK_TIMEOUT_MS: '60000',
  },
});
const account = await server.newAccount('callbacks');
const other = await server.newAccount('other');
await server.seed(account.account_id, 'cdr_in', 200, 1);
await server.seed(other.account_id, 'cdr_in', 200, 2);
const filters = { year: THIS_YEAR, month: THIS_MONTH };

test('slow callback receivers fill the callback slots; an export still completes', async () => {
  const receiver = await stallingReceiver();
  // Three exports announce themselves to a receiver that never answers: two callbacks hold both
  // callback slots (60 s each), the third waits for one.
  for (let i = 0; i < 3; i++)
    await server.createExport(account.api_key, {
      export_type: 'cdr_in',
      filters,
      callback_url: receiver.url,
      callback_method: 'POST',
    });
  await waitFor(async () => receiver.held.length >= 2, 'two callbacks to be held by the receiver');

  // Another account's export, and one of the same account, complete although no callback ended.
  const id = await server.createExport(other.api_key, { export_type: 'cdr_in', filters });
  assert.ok(await server.exportFileUrl(other.api_key, id));
  const own = await server.createExport(account.api_key, { export_type: 'cdr_in', filters });
  assert.ok(await server.exportFileUrl(account.api_key, own));
  assert.equal(receiver.held.length, 2, 'the callback slots stayed full all along');
});
