// Limits before work (docs/security.md, "Request limits"): body caps that refuse a body before
// it is parsed, the per-address limit on failed authentications and how CDREX_TRUST_PROXY reads
// the address, switch ingestion's own rate limit, and logs that never hold a credential.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { AddressLimiter, clientAddress } from '../../src/api/request-limits.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { REDACT_PATHS } from '../../src/log.js';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { assertRetryAfter } from '../helpers/http.js';
import { NOW, startServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const db = await createTestDatabase();
// Behind a trusted proxy (the test client, 127.0.0.1), with a low failed-auth limit.
const server = await startServer(db, {
  worker: false,
  env: {
    CDREX_RATE_LIMIT: '10',
    CDREX_AUTH_FAIL_LIMIT: '5',
    CDREX_TRUST_PROXY: '127.0.0.1',
    CDREX_UPLOAD_LIMIT_MB: '3',
  },
});
// No CDREX_TRUST_PROXY: X-Forwarded-For is ignored.
const direct = await startServer(db, { worker: false, env: { CDREX_AUTH_FAIL_LIMIT: '5' } });
// A low ingestion limit, to see it enforced.
const throttled = await startServer(db, { worker: false, env: { CDREX_INGEST_RATE_LIMIT: '3' } });
const alice = await server.newAccount('alice');

const sampleText = fs.readFileSync(
  path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'),
  'utf8',
);
const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

/** The fixture moved to now, with its own uuid; `pad` bytes of padding in a variable. */
function switchCdr(uuid: string, pad = 0): string {
  const doc = JSON.parse(sampleText) as { variables: Record<string, string> };
  const start = BigInt(NOW.getTime() - 60_000) * 1000n;
  Object.assign(doc.variables, {
    uuid,
    start_uepoch: String(start),
    answer_uepoch: String(start + 2_000_000n),
    end_uepoch: String(start + 6_000_000n),
    ...(pad ? { cdrex_padding: 'p'.repeat(pad) } : {}),
  });
  return JSON.stringify(doc);
}

async function storedCount(accountId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    'select count(*)::int as n from cdrs where account_id = $1',
    [accountId],
  );
  return rows[0].n;
}

/** Sends a body of `total` bytes (a JSON string padded with `a`) without ever holding it: one
 * 1 MiB buffer written again and again. First only the headers and 8 KiB go; a server that
 * refuses by its limit answers then, and the rest is never sent (so no write races the close).
 * Without an answer after a grace period, the rest follows. Samples this process's heap (the
 * server's) the whole time. */
async function hugeBody(
  url: string,
  options: { method: string; headers: Record<string, string>; total: number; chunked?: boolean },
): Promise<{ status: number; text: string; heapGrowth: number }> {
  const chunk = Buffer.alloc(MiB, 'a');
  const head = Buffer.concat([Buffer.from('{"data":{"api_key":"'), chunk.subarray(0, 8192)]);
  const tail = Buffer.from('"}}');
  const headers = {
    ...options.headers,
    ...(options.chunked ? {} : { 'Content-Length': String(options.total) }),
  };
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 2);
  try {
    return await new Promise((resolve, reject) => {
      let answered = false;
      let wake = () => {};
      const req = http.request(url, { method: options.method, headers });
      req.on('response', (res) => {
        answered = true;
        wake();
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          peak = Math.max(peak, process.memoryUsage().heapUsed);
          resolve({
            status: res.statusCode!,
            text: Buffer.concat(parts).toString(),
            heapGrowth: peak - baseline,
          });
          req.destroy();
        });
      });
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      let sent = 0;
      const write = (buf: Buffer) =>
        new Promise<void>((done) => {
          sent += buf.length;
          if (req.write(buf)) return done();
          const go = () => {
            req.off('drain', go);
            req.off('close', go);
            done();
          };
          req.on('drain', go);
          req.on('close', go);
        });
      void (async () => {
        await write(head);
        // The grace period only decides when to go on sending; nothing is timed.
        await new Promise<void>((done) => {
          const timer = setTimeout(done, 2000);
          wake = () => {
            clearTimeout(timer);
            done();
          };
        });
        while (!answered && !req.destroyed && sent + chunk.length + tail.length <= options.total) {
          await write(chunk);
        }
        if (!answered && !req.destroyed) {
          const rest = options.total - sent - tail.length;
          if (rest > 0) await write(chunk.subarray(0, rest));
          req.end(tail);
        }
      })();
    });
  } finally {
    clearInterval(sampler);
  }
}

test('a 60 MB body to api_auth is refused with 413 before it is parsed, in both Kazoo versions', async () => {
  for (const [version, chunked] of [
    ['v2', false],
    ['v1', true],
  ] as const) {
    // `direct` has the default upload cap, 200 MiB, which used to be every route's body limit.
    const res = await hugeBody(`${direct.base}/${version}/api_auth`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      total: 60 * MiB,
      chunked,
    });
    assert.equal(res.status, 413, `${version}: ${res.text.slice(0, 200)}`);
    const body = JSON.parse(res.text) as { status: string; error: string; message: string };
    assert.deepEqual([body.status, body.error, body.message], ['error', '413', 'request_too_large']);
    // Parsing it would hold the 60 MB (twice: the string, then the parse).
    assert.ok(
      res.heapGrowth < 24 * MiB,
      `${version}: the heap grew by ${Math.round(res.heapGrowth / MiB)} MiB`,
    );
  }
});

test('api_auth takes 4 KiB; other bodies 1 MiB; 413 in each dialect', async () => {
  const auth = (body: string) =>
    fetch(`${server.base}/v2/api_auth`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
  const small = await auth(JSON.stringify({ data: { api_key: alice.api_key } }));
  assert.equal(small.status, 201);
  const padded = await auth(JSON.stringify({ data: { api_key: alice.api_key }, pad: 'x'.repeat(5000) }));
  assert.equal(padded.status, 413);
  assert.equal(((await padded.json()) as { message: string }).message, 'request_too_large');

  // A DIDWW route without a limit of its own: the global 1 MiB (it was the 3 MiB upload cap).
  const del = await fetch(`${server.base}/v3/exports/00000000-0000-4000-8000-000000000000`, {
    method: 'DELETE',
    headers: { 'Api-Key': alice.api_key, 'Content-Type': 'application/vnd.api+json' },
    body: JSON.stringify({ pad: 'x'.repeat(2 * MiB) }),
  });
  assert.equal(del.status, 413);
  assert.equal(del.headers.get('content-type'), 'application/vnd.api+json');
  const doc = (await del.json()) as { errors: { status: string; title: string }[] };
  assert.deepEqual([doc.errors[0].status, doc.errors[0].title], ['413', 'Payload Too Large']);
});

test('the upload routes keep the upload cap, for every content type', async () => {
  const auth = basic(alice.account_id, alice.api_key);
  const ingest = (body: string) =>
    fetch(`${server.base}/ingest/freeswitch`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body,
    });
  // 1.5 MiB: over the global limit, under the 3 MiB upload cap.
  const big = await ingest(switchCdr('11111111-2222-4333-8444-000000000001', 1.5 * MiB));
  assert.equal(big.status, 200, await big.clone().text());
  const stored = (await big.json()) as { inserted: number; duplicates: number; id: string };
  assert.deepEqual([stored.inserted, stored.duplicates], [1, 0]);
  assert.match(stored.id, /-11111111-2222-4333-8444-000000000001=in1-/);
  const over = await ingest(switchCdr('11111111-2222-4333-8444-000000000002', 4 * MiB));
  assert.equal(over.status, 413);
  assert.match(((await over.json()) as { error: string }).error, /.+/);

  const cdrs = `${server.base}/v2/accounts/${alice.account_id}/cdrs`;
  const upload = (body: string, type: string) =>
    fetch(cdrs, { method: 'PUT', headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': type }, body });
  const nowG = Math.floor(NOW.getTime() / 1000) + 62167219200;
  const rows = Array.from({ length: 6000 }, (_, i) =>
    JSON.stringify({
      call_id: `big-upload-${i}`,
      timestamp: String(nowG - 600 - i),
      duration_seconds: '1',
      caller_id_name: 'n'.repeat(200),
    }),
  ).join('\n');
  assert.ok(rows.length > 1.5 * MiB && rows.length < 3 * MiB);
  const nd = await upload(rows, 'application/x-ndjson');
  assert.equal(nd.status, 201, (await nd.clone().text()).slice(0, 300));
  assert.equal(((await nd.json()) as { data: { inserted: number } }).data.inserted, 6000);
  // A type the route refuses is still read only up to the upload cap.
  const text = await upload('t'.repeat(4 * MiB), 'text/plain');
  assert.equal(text.status, 413);
  assert.equal(((await text.json()) as { message: string }).message, 'request_too_large');
});

/** A request from `client` (through the trusted proxy, which names it in X-Forwarded-For). */
const from = (base: string, client: string, route: string, init: RequestInit = {}) =>
  fetch(`${base}${route}`, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'X-Forwarded-For': client },
  });

test('failed authentications are limited per client address, before the credential is looked up', async () => {
  const wrong = { headers: { 'Api-Key': 'not-a-key' } };
  for (let i = 0; i < 5; i++)
    assert.equal((await from(server.base, '203.0.113.1', '/v3/exports', wrong)).status, 401);
  const sixth = await from(server.base, '203.0.113.1', '/v3/exports', wrong);
  assert.equal(sixth.status, 429);
  assertRetryAfter(sixth);
  assert.equal(sixth.headers.get('content-type'), 'application/vnd.api+json');
  assert.equal(((await sixth.json()) as { errors: { status: string }[] }).errors[0].status, '429');
  // Even a right key from that address waits: a guess that hit would otherwise tell.
  const right = await from(server.base, '203.0.113.1', '/v3/exports', {
    headers: { 'Api-Key': alice.api_key },
  });
  assert.equal(right.status, 429);
  // A route spelled another way is the same route.
  assert.equal((await from(server.base, '203.0.113.1', '/%763/exports', wrong)).status, 429);
  // Another client is not affected.
  assert.equal((await from(server.base, '203.0.113.2', '/v3/exports', wrong)).status, 401);
  assert.equal(
    (await from(server.base, '203.0.113.2', '/v3/exports', { headers: { 'Api-Key': alice.api_key } })).status,
    200,
  );
});

test('Kazoo: bad api_auth keys and requests without a token count; 429 in the envelope', async () => {
  const authBad = () =>
    from(server.base, '203.0.113.3', '/v2/api_auth', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { api_key: 'guess' } }),
    });
  for (let i = 0; i < 3; i++) assert.equal((await authBad()).status, 401);
  const cdrs = `/v1/accounts/${alice.account_id}/cdrs`;
  for (let i = 0; i < 2; i++) assert.equal((await from(server.base, '203.0.113.3', cdrs)).status, 401);
  const limited = await authBad();
  assert.equal(limited.status, 429);
  assertRetryAfter(limited);
  const body = (await limited.json()) as { status: string; error: string; message: string };
  assert.deepEqual([body.status, body.error, body.message], ['error', '429', 'too_many_requests']);
  assert.equal(
    (await from(server.base, '203.0.113.3', cdrs, { headers: { 'X-Auth-Token': alice.api_key } })).status,
    429,
  );
});

test('switch ingestion: bad Basic credentials count too', async () => {
  const post = () =>
    from(server.base, '203.0.113.4', '/ingest/freeswitch', {
      method: 'POST',
      headers: { Authorization: basic(alice.account_id, 'guess'), 'Content-Type': 'application/json' },
      body: '{}',
    });
  for (let i = 0; i < 5; i++) assert.equal((await post()).status, 401);
  const limited = await post();
  assert.equal(limited.status, 429);
  assertRetryAfter(limited);
  assert.match(((await limited.json()) as { error: string }).error, /failed authentications/);
});

test('without CDREX_TRUST_PROXY, X-Forwarded-For does not make another client', async () => {
  const wrong = { headers: { 'Api-Key': 'not-a-key' } };
  for (let i = 0; i < 5; i++)
    assert.equal((await from(direct.base, '203.0.113.10', '/v3/exports', wrong)).status, 401);
  // A new X-Forwarded-For from the same socket address is the same client.
  const other = await from(direct.base, '203.0.113.11', '/v3/exports', wrong);
  assert.equal(other.status, 429);
  assertRetryAfter(other);
});

test('40 switch posts at once for one account: all 2xx, all 40 stored, despite a query limit of 10/s', async () => {
  const pbx = await server.newAccount('pbx');
  const auth = basic(pbx.account_id, pbx.api_key);
  const responses = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      fetch(`${server.base}/ingest/freeswitch`, {
        method: 'POST',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: switchCdr(`22222222-3333-4444-8555-${String(i).padStart(12, '0')}`),
      }),
    ),
  );
  assert.deepEqual(
    responses.map((r) => r.status),
    Array<number>(40).fill(200),
  );
  assert.equal(await storedCount(pbx.account_id), 40);
});

test('CDREX_INGEST_RATE_LIMIT: beyond it, 429 with Retry-After; every 2xx was stored', async () => {
  const pbx = await throttled.newAccount('busy-pbx');
  const auth = basic(pbx.account_id, pbx.api_key);
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      fetch(`${throttled.base}/ingest/freeswitch`, {
        method: 'POST',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
        body: switchCdr(`33333333-4444-4555-8666-${String(i).padStart(12, '0')}`),
      }),
    ),
  );
  const ok = responses.filter((r) => r.status === 200);
  const limited = responses.filter((r) => r.status === 429);
  assert.equal(ok.length + limited.length, 20);
  assert.ok(limited.length >= 10, `only ${limited.length} of 20 limited`);
  limited.forEach(assertRetryAfter);
  assert.equal(await storedCount(pbx.account_id), ok.length);
  // The query API has its own budget, untouched by the switch's posts.
  const list = await fetch(`${throttled.base}/v3/exports`, { headers: { 'Api-Key': pbx.api_key } });
  assert.equal(list.status, 200);
});

test('logs at trace level hold no credential: percent-encoded query names, headers', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  // The logger createLogger() makes, writing here instead of to stderr.
  const log = pino({ level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  const app = await buildApp(server.app.store, log);
  const secrets = Array.from({ length: 8 }, (_, i) => `s3cret${i}x${'k'.repeat(12)}`);
  const cdrs = `/v2/accounts/${alice.account_id}/cdrs`;
  try {
    await app.inject({ url: `${cdrs}?auth%5Ftoken=${secrets[0]}&page_size=1` });
    await app.inject({ url: `${cdrs}?AUTH%5fTOKEN=${secrets[1]}&Api%5FKey=${secrets[2]}` });
    await app.inject({ url: `${cdrs}?auth_token=${secrets[3]}&auth%255Ftoken=${secrets[4]}` });
    await app.inject({ url: '/v3/exports', headers: { 'Api-Key': secrets[5] } });
    await app.inject({ url: cdrs, headers: { 'X-Auth-Token': secrets[6] } });
    await app.inject({ url: cdrs, headers: { Authorization: `Bearer ${secrets[7]}` } });
    await app.inject({
      method: 'POST',
      url: '/ingest/freeswitch',
      headers: { Authorization: basic(alice.account_id, secrets[0]), 'Content-Type': 'application/json' },
      payload: '{}',
    });
  } finally {
    await app.close();
  }
  const text = lines.join('');
  assert.match(text, /incoming request/);
  assert.match(text, /page_size=1/, 'the rest of the URL is still logged');
  for (const secret of secrets) assert.ok(!text.includes(secret), `${secret} was logged`);
  assert.ok(!text.includes(Buffer.from(`${alice.account_id}:${secrets[0]}`).toString('base64')));
});

test('a URL the router refuses answers in the dialect its first segment names, however spelled', async () => {
  // A malformed escape after the prefix: no route can take it, so frameworkErrors answers.
  const didww = await server.app.inject({ url: '/%763/exports/%E0%A4%A' });
  assert.equal(didww.statusCode, 400);
  assert.match(String(didww.headers['content-type']), /^application\/vnd\.api\+json/);
  assert.equal((didww.json() as { errors: { status: string }[] }).errors[0].status, '400');
  const kazoo = await server.app.inject({ url: '/%76%32/accounts/%E0%A4%A/cdrs' });
  assert.equal(kazoo.statusCode, 400);
  assert.equal((kazoo.json() as { status: string }).status, 'error');
});

test('the settings: defaults, CDREX_TRUST_PROXY forms, and what is refused', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.bodyLimitKb, 1024);
  assert.equal(defaults.authFailLimit, 20);
  assert.equal(defaults.ingestRateLimit, 2000);
  assert.equal(defaults.trustProxy, false);
  const trust = (value: string) => loadConfig({ CDREX_TRUST_PROXY: value }).trustProxy;
  assert.equal(trust('true'), true);
  assert.equal(trust('false'), false);
  assert.equal(trust('2'), 2);
  assert.deepEqual(trust('10.0.0.1, 192.168.0.0/16,loopback,::1,fd00::/8'), [
    '10.0.0.1',
    '192.168.0.0/16',
    'loopback',
    '::1',
    'fd00::/8',
  ]);
  for (const bad of ['yes', '10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/1']) {
    assert.throws(() => trust(bad), ConfigError, bad);
  }
  assert.throws(() => loadConfig({ CDREX_AUTH_FAIL_LIMIT: '0' }), ConfigError);
});

test('client addresses: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', () => {
  assert.equal(clientAddress('192.0.2.7'), '192.0.2.7');
  assert.equal(clientAddress('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientAddress('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientAddress('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(clientAddress('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientAddress('::1'), '0:0:0:0::/64');
});

test('the failed-auth counter: blocks at the limit until the window ends, bounded in size', () => {
  let now = 0;
  const limiter = new AddressLimiter(2, 60_000, 3, () => now);
  limiter.fail('a');
  assert.equal(limiter.blockedFor('a'), 0);
  limiter.fail('a');
  assert.equal(limiter.blockedFor('a'), 60);
  now = 59_500;
  assert.equal(limiter.blockedFor('a'), 1);
  now = 60_000;
  assert.equal(limiter.blockedFor('a'), 0, 'a new window');
  limiter.fail('a');
  assert.equal(limiter.blockedFor('a'), 0);
  limiter.fail('a');
  assert.equal(limiter.blockedFor('a'), 60);
  // Full: the oldest windows give way to new addresses.
  for (const address of ['b', 'c', 'd', 'e']) limiter.fail(address);
  limiter.fail('e');
  assert.equal(limiter.blockedFor('e'), 60);
  assert.equal(limiter.blockedFor('a'), 0, 'the oldest window was dropped');
});

test('a 429 from any limit carries Retry-After, even one that forgot to set it', async () => {
  const app = await buildApp(server.app.store, pino({ level: 'silent' }));
  app.get('/limited', { config: { rateLimit: false } }, async (_req, reply) => reply.code(429).send({}));
  try {
    const res = await app.inject({ url: '/limited' });
    assert.equal(res.statusCode, 429);
    assert.equal(res.headers['retry-after'], '1');
  } finally {
    await app.close();
  }
});
