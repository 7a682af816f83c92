// 10 requests per second per account (here 3, set by CDREX_RATE_LIMIT): above it, 429 with
// Retry-After and a JSON:API error; other accounts are not affected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from '../helpers/db.js';
import { startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), {
  worker: false,
  env: { CDREX_RATE_LIMIT: '3' },
});
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');

const list = (key: string) => fetch(`${server.base}/v3/exports`, { headers: { 'Api-Key': key } });

test('a burst above the limit gets 429 with Retry-After, per account', async () => {
  const responses = await Promise.all(Array.from({ length: 20 }, () => list(alice.api_key)));
  const limited = responses.filter((r) => r.status === 429);
  assert.ok(limited.length >= 10, `expected most of the burst limited, got ${limited.length}`);
  assert.ok(responses.some((r) => r.status === 200));
  const res = limited[0];
  assert.ok(Number(res.headers.get('retry-after')) >= 0);
  assert.equal(res.headers.get('content-type'), 'application/vnd.api+json');
  const body = (await res.json()) as { errors: { status: string; title: string }[] };
  assert.equal(body.errors[0].status, '429');
  assert.equal(body.errors[0].title, 'Too Many Requests');
  // Bob has his own budget.
  assert.equal((await list(bob.api_key)).status, 200);
});
