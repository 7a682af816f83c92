// A busy switch's burst: 1,000 CDRs posted to /ingest/freeswitch over 20 concurrent keep-alive
// connections, against a server with the DEFAULT limits (testEnv lifts them for other suites; this
// file puts them back). Every post gets a 2xx and every CDR is stored exactly once: throttling
// that refused posts under the default limit, or acknowledged CDRs it then dropped, fails here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer } from '../helpers/server.js';

const CDRS = 1000;
const CONNECTIONS = 20;

const defaults = loadConfig({});
const db = await createTestDatabase();
const server = await startServer(db, {
  worker: false,
  env: {
    CDREX_RATE_LIMIT: String(defaults.rateLimit),
    CDREX_AUTH_FAIL_LIMIT: String(defaults.authFailLimit),
    CDREX_REQUESTS_PER_ACCOUNT: String(defaults.requestsPerAccount),
    CDREX_UPLOADS_PER_ACCOUNT: String(defaults.uploadsPerAccount),
  },
});
const account = await server.newAccount('busy switch');
const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
after(() => agent.destroy());

const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');
const auth = `Basic ${Buffer.from(`${account.account_id}:${account.api_key}`).toString('base64')}`;

/** CDR `i` of the burst: the real sample, a uuid of its own, ended in the last few minutes. */
function cdr(i: number): string {
  const doc = JSON.parse(sample) as { variables: Record<string, string> };
  const start = BigInt(NOW.getTime() - 300_000 + i * 100) * 1000n + BigInt(i % 1000);
  Object.assign(doc.variables, {
    uuid: `burst-${String(i).padStart(4, '0')}`,
    start_uepoch: String(start),
    answer_uepoch: String(start + 1_000_000n),
    end_uepoch: String(start + 5_000_000n),
  });
  return JSON.stringify(doc);
}

const { port } = new URL(server.base);
const sockets = new Set<Socket>();

function post(body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/ingest/freeswitch',
        headers: { Authorization: auth, 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('socket', (socket) => sockets.add(socket));
    req.on('error', reject);
    req.end(body);
  });
}

test('1,000 posts from 20 connections under the default limits: all 2xx, all stored once', async () => {
  // The premise: this server runs with cdrex's defaults, not the suites' lifted limits.
  for (const key of ['ingestRateLimit', 'rateLimit', 'requestsPerAccount', 'uploadsPerAccount'] as const)
    assert.equal(server.config[key], defaults[key], key);

  const answers = await Promise.all(Array.from({ length: CDRS }, (_, i) => post(cdr(i))));
  const refused = answers.filter((a) => a.status < 200 || a.status >= 300);
  assert.deepEqual(refused.slice(0, 3), [], `${refused.length} posts refused`);
  assert.ok(sockets.size > 1 && sockets.size <= CONNECTIONS, `${sockets.size} connections`);
  const inserted = answers.reduce((n, a) => n + (JSON.parse(a.body) as { inserted: number }).inserted, 0);
  assert.equal(inserted, CDRS, 'each post acknowledged its CDR as new');

  const { rows } = await db.pool.query(
    `select count(*)::int as n, count(distinct call_id)::int as calls
       from cdrs where account_id = $1 and source = 'freeswitch'`,
    [account.account_id],
  );
  assert.deepEqual(rows[0], { n: CDRS, calls: CDRS }, 'every acknowledged CDR stored, none twice');
});
