// The query rate limit (CDREX_RATE_LIMIT per second, here 3): decided by the route that matched,
// never by the raw URL, and counted per credential (an API key or an api_auth token). Above it,
// 429 with Retry-After in the dialect's format; other credentials are not affected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { credentialKeyer } from '../../src/api/request-limits.js';
import { createTestDatabase } from '../helpers/db.js';
import { assertRetryAfter } from '../helpers/http.js';
import { startServer } from '../helpers/server.js';

const server = await startServer(await createTestDatabase(), {
  worker: false,
  env: { CDREX_RATE_LIMIT: '3' },
});
const alice = await server.newAccount('alice');
const bob = await server.newAccount('bob');

const get = (path: string, headers: Record<string, string>) => fetch(`${server.base}${path}`, { headers });
const burst = (n: number, send: () => Promise<Response>) => Promise.all(Array.from({ length: n }, send));

test('a burst above the limit gets 429 with Retry-After, per account', async () => {
  const responses = await burst(20, () => get('/v3/exports', { 'Api-Key': alice.api_key }));
  const limited = responses.filter((r) => r.status === 429);
  assert.ok(limited.length >= 10, `expected most of the burst limited, got ${limited.length}`);
  assert.ok(responses.some((r) => r.status === 200));
  limited.forEach(assertRetryAfter);
  const res = limited[0];
  assert.equal(res.headers.get('content-type'), 'application/vnd.api+json');
  const body = (await res.json()) as { errors: { status: string; title: string }[] };
  assert.equal(body.errors[0].status, '429');
  assert.equal(body.errors[0].title, 'Too Many Requests');
  // Bob has his own budget.
  assert.equal((await get('/v3/exports', { 'Api-Key': bob.api_key })).status, 200);
});

test('another spelling of the same route is counted as that route', async () => {
  // `/%763/exports` and `/v3/%65xports` reach /v3/exports; a limit read off the raw URL missed them.
  for (const path of ['/%763/exports', '/v3/%65xports', '/v3/exports/']) {
    const carol = await server.newAccount('carol');
    const responses = await burst(20, () => get(path, { 'Api-Key': carol.api_key }));
    const statuses = responses.map((r) => r.status);
    assert.ok(statuses.includes(200), `${path}: ${statuses.join(',')}`);
    const limited = responses.filter((r) => r.status === 429);
    assert.ok(limited.length >= 10, `${path}: only ${limited.length} of 20 limited`);
    limited.forEach(assertRetryAfter);
  }
});

test('each api_auth token has its own bucket; a Kazoo 429 has the envelope and Retry-After', async () => {
  const dave = await server.newAccount('dave');
  const signIn = async () => {
    const res = await fetch(`${server.base}/v2/api_auth`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { api_key: dave.api_key } }),
    });
    assert.equal(res.status, 201);
    return ((await res.json()) as { auth_token: string }).auth_token;
  };
  const first = await signIn();
  const second = await signIn();
  const cdrs = `/v2/accounts/${dave.account_id}/cdrs`;
  const responses = await burst(20, () => get(cdrs, { 'X-Auth-Token': first }));
  const limited = responses.filter((r) => r.status === 429);
  assert.ok(limited.length >= 10, `only ${limited.length} of 20 limited`);
  limited.forEach(assertRetryAfter);
  const body = (await limited[0].json()) as { status: string; error: string; message: string };
  assert.deepEqual([body.status, body.error, body.message], ['error', '429', 'too_many_requests']);
  // The other sign-in of the same account is not held back by the first one's burst.
  assert.equal((await get(cdrs, { 'X-Auth-Token': second })).status, 200);
});

test('a header the dialect does not read opens no new bucket (an Api-Key sent to Kazoo)', async () => {
  // The attack review: the Kazoo bucket was named after any Api-Key header, so a fresh random one
  // on each request made the limit disappear.
  const erin = await server.newAccount('erin');
  const cdrs = `/v2/accounts/${erin.account_id}/cdrs`;
  const responses = await burst(20, () =>
    get(cdrs, { 'X-Auth-Token': erin.api_key, 'Api-Key': crypto.randomUUID() }),
  );
  const limited = responses.filter((r) => r.status === 429);
  assert.ok(limited.length >= 10, `only ${limited.length} of 20 limited`);
  limited.forEach(assertRetryAfter);
});

test("the limiter's key is a hash of the credential, never the credential", () => {
  const key = credentialKeyer();
  const secret = 'a-secret-api-key-0123456789';
  const on = (url: string, headers: Record<string, string>) =>
    key({ headers, query: {}, routeOptions: { url }, ip: '192.0.2.1' } as unknown as FastifyRequest);
  const asKey = on('/v3/exports', { 'api-key': secret });
  const asToken = on('/v2/accounts/:account_id/cdrs', { 'x-auth-token': secret });
  assert.ok(!asKey.includes(secret) && !asKey.includes('192.0.2.1'), asKey);
  assert.equal(asKey, asToken, 'the same credential is one bucket, however it is presented');
  assert.notEqual(asKey, on('/v3/exports', { 'api-key': `${secret}x` }));
  // Kazoo reads no Api-Key header: such a request is counted by its own token (none: its address).
  assert.equal(on('/v2/accounts/:account_id/cdrs', { 'api-key': secret }), on('/v2/api_auth', {}));
});
