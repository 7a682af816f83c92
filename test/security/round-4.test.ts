// Round 4 of the attack review (docs/security.md): the surfaces added in the last round, attacked
// by one ordinary account and a curious second tenant. Each test fails if its guarantee breaks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import pg from 'pg';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { writeExportFile } from '../../src/export/export-file.js';
import { accountDb } from '../../src/store/account-db.js';
import { ensureMonthPartitions } from '../../src/store/partitions.js';
import { createOperatorToken } from '../../src/store/queries/admin.js';
import { createAccount } from '../../src/store/queries/accounts.js';
import type { ExportRow } from '../../src/store/queries/exports.js';
import { cdrex, ROOT } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { createExport, TEST_MASTER_KEY, NOW, testEnv } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-round4-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

// The server's log, captured line by line (pino JSON at trace level).
let logText = '';
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logText += chunk.toString();
    done();
  },
});
const config = loadConfig(testEnv(db, dataDir, { CDREX_PENDING_EXPORTS_PER_ACCOUNT: '3' }));
const masterKey = TEST_MASTER_KEY;
const app = await buildApp(
  { pool: db.app, streamPool: db.app, workerPool: db.worker, config, masterKey, now: () => NOW },
  pino({ level: 'trace' }, logSink),
);
await app.listen({ port: 0, host: '127.0.0.1' });
after(() => app.close());
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
config.publicUrl = base;

const alice = await createAccount(db.pool, masterKey, 'alice');
const bob = await createAccount(db.pool, masterKey, 'bob');

async function insert(accountId: string, at: Date, callId: string): Promise<void> {
  await db.pool.query(
    `insert into cdrs (account_id, kind, time_start, call_id, attempt, status, source)
     values ($1, 'cdr_in', $2, $3, 1, 'Success', 'test')`,
    [accountId, at, callId],
  );
}

// ---- The read-only page path: the account setting never leaks between pooled connections ----

test('AccountDb.read on a one-connection pool: a failed read, then another account, sees only its own rows', async () => {
  const pool = new pg.Pool({ connectionString: db.roles.app, max: 1 });
  after(() => pool.end());
  const month = new Date(Date.UTC(NOW.getUTCFullYear(), NOW.getUTCMonth(), 1));
  await ensureMonthPartitions(db.pool, [month]);
  await insert(alice.account_id, new Date(month.getTime() + 1000), 'read-alice');
  await insert(bob.account_id, new Date(month.getTime() + 1000), 'read-bob');
  const seen = async (accountId: string) =>
    (
      await accountDb(pool, accountId).read<{ call_id: string; account_id: string }>({
        text: `select call_id, account_id from cdrs where call_id like 'read-%'`,
      })
    ).rows;
  // A failed statement in alice's READ ONLY transaction (a write, and a bad cast).
  for (const text of [`insert into cdrs (account_id) values ('x')`, `select 'x'::int`]) {
    await assert.rejects(accountDb(pool, alice.account_id).read({ text }));
  }
  assert.deepEqual(
    (await seen(bob.account_id)).map((r) => r.account_id),
    [bob.account_id],
    "bob's read after alice's failed one",
  );
  assert.deepEqual(
    (await seen(alice.account_id)).map((r) => r.account_id),
    [alice.account_id],
  );
  assert.deepEqual(
    (await seen(bob.account_id)).map((r) => r.account_id),
    [bob.account_id],
  );
  // Outside any account transaction the same connection has no account: RLS shows nothing.
  const bare = await pool.query(
    `select current_setting('cdrex.account', true) as a, (select count(*)::int from cdrs) as n`,
  );
  assert.ok(!bare.rows[0].a, `the account setting outlived its transaction: ${bare.rows[0].a}`);
  assert.equal(bare.rows[0].n, 0);
  // A hostile id never reaches SQL text.
  for (const id of ["x'; set cdrex.account = '" + bob.account_id, '$1', `${bob.account_id}\u0000`]) {
    assert.throws(() => accountDb(pool, id));
  }
});

// ---- DIDWW exports cut into time slices: two accounts at once, month edges, a leap month ----

test('sliced exports (1, 2, 4 slices) of two accounts at once: own rows only, the whole month, no more', async () => {
  const feb = new Date(Date.UTC(2024, 1, 1)); // a leap month: 29 days
  const mar = new Date(Date.UTC(2024, 2, 1));
  await ensureMonthPartitions(db.pool, [new Date(Date.UTC(2024, 0, 1)), feb, mar]);
  const at = (ms: number) => new Date(ms);
  // Inside: the first instant, a second before the end, the leap day; outside: a millisecond
  // before, the end itself.
  const inside = [
    feb.getTime(),
    feb.getTime() + 1,
    Date.UTC(2024, 1, 29, 12),
    mar.getTime() - 1000,
    mar.getTime() - 1,
  ];
  const outside = [feb.getTime() - 1, mar.getTime(), mar.getTime() + 1];
  for (const owner of [alice, bob]) {
    const tag = owner === alice ? 'A' : 'B';
    for (const [i, t] of inside.entries()) await insert(owner.account_id, at(t), `${tag}-in-${i}`);
    for (const [i, t] of outside.entries()) await insert(owner.account_id, at(t), `${tag}-out-${i}`);
    // Many rows at the same instants in both accounts, so slices of both cut at the same times.
    for (let i = 0; i < 40; i++)
      await insert(owner.account_id, at(Date.UTC(2024, 1, 1 + (i % 28), i % 24)), `${tag}-mid-${i}`);
  }
  const expected = inside.length + 40;
  const exportOf = (accountId: string): ExportRow =>
    ({
      id: randomBytes(16).toString('hex'),
      account_id: accountId,
      dialect: 'exports',
      export_type: 'cdr_in',
      range_from: feb,
      range_to: mar,
      did_number: null,
      voice_out_trunk_id: null,
    }) as ExportRow;
  const run = async (accountId: string, slices: number) => {
    const exp = exportOf(accountId);
    const readers = await accountDb(db.app, accountId).streams(slices);
    try {
      const tmp = path.join(dataDir, `.tmp-${exp.id}`);
      const written = await writeExportFile(
        readers.map((r) => r.client),
        exp,
        dataDir,
        tmp,
        new AbortController().signal,
      );
      const text = zlib.gunzipSync(fs.readFileSync(path.join(dataDir, written.fileName))).toString();
      return { written, lines: text.trim().split('\n').slice(1) };
    } finally {
      for (const r of readers) r.done();
    }
  };
  for (const slices of [1, 2, 4]) {
    const [a, b] = await Promise.all([run(alice.account_id, slices), run(bob.account_id, slices)]);
    for (const [tag, result] of [
      ['A', a],
      ['B', b],
    ] as const) {
      assert.equal(result.written.rows, expected, `${tag} ${slices} slices: rows reported`);
      assert.equal(result.lines.length, expected, `${tag} ${slices} slices: rows in the file`);
      const foreign = result.lines.filter((l) => !l.includes(`${tag}-in-`) && !l.includes(`${tag}-mid-`));
      assert.deepEqual(foreign, [], `${tag} ${slices} slices: another account's or an out-of-month row`);
    }
  }
});

// ---- /ingest/freeswitch: a switch of A can neither write as B nor learn about B ----

const sample = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8');
function fsCdr(uuid: string, start: bigint): string {
  const doc = JSON.parse(sample) as { variables: Record<string, string> };
  Object.assign(doc.variables, {
    uuid,
    start_uepoch: String(start),
    answer_uepoch: String(start + 1_000_000n),
    end_uepoch: String(start + 5_000_000n),
  });
  return JSON.stringify(doc);
}
const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
async function ingest(authorization: string, body: string) {
  const res = await fetch(`${base}/ingest/freeswitch`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, text: await res.text() };
}

test("freeswitch: A's key cannot post as B; B's call id posted by A is A's own, not a duplicate", async () => {
  const start = BigInt(NOW.getTime() - 600_000) * 1000n + 123n;
  const first = await ingest(basic(bob.account_id, bob.api_key), fsCdr('shared-uuid', start));
  assert.equal(first.status, 200, first.text);
  const count = async (accountId: string) =>
    Number(
      (
        await db.pool.query(`select count(*) from cdrs where account_id = $1 and call_id = 'shared-uuid'`, [
          accountId,
        ])
      ).rows[0].count,
    );
  for (const auth of [
    basic(bob.account_id, alice.api_key),
    basic(`${bob.account_id}:${alice.api_key}`, alice.api_key),
    basic(`${alice.account_id}\n${bob.account_id}`, alice.api_key),
    basic('$1', alice.api_key),
    basic(bob.account_id, ''),
  ]) {
    const r = await ingest(auth, fsCdr('forged', start));
    assert.equal(r.status, 401, r.text);
    assert.ok(!r.text.includes(bob.account_id));
  }
  const again = await ingest(basic(alice.account_id, alice.api_key), fsCdr('shared-uuid', start));
  assert.equal(again.status, 200, again.text);
  const answer = JSON.parse(again.text);
  assert.equal(answer.duplicate, false, "B's CDR with the same key made A's a duplicate");
  assert.equal(answer.inserted, 1);
  assert.equal(await count(alice.account_id), 1);
  assert.equal(await count(bob.account_id), 1);
  assert.equal(
    Number((await db.pool.query(`select count(*) from cdrs where call_id = 'forged'`)).rows[0].count),
    0,
  );
});

// ---- The admin API: an account's key gets 401, never 2xx ----

test("admin API: an account's key or token gets 401 on every route", async () => {
  const operator = await createOperatorToken(db.worker, 'round-4', { actor: 'test' });
  const masked = await fetch(`${base}/admin/v1/accounts/${bob.account_id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' },
    body: '{"mask_digits": 4}',
  });
  assert.equal(masked.status, 200, await masked.text());
  const routes: [string, string, string?][] = [
    ['GET', '/accounts'],
    ['GET', `/accounts/${alice.account_id}`],
    ['PATCH', `/accounts/${alice.account_id}`, '{"mask_digits": null}'],
    ['PATCH', `/accounts/${bob.account_id}`, '{"mask_digits": null}'],
    ['POST', `/accounts/${bob.account_id}/erasures`, '{"number": "+15005550100"}'],
    ['POST', `/accounts/${bob.account_id}/disable`, '{}'],
    ['GET', `/accounts/${bob.account_id}/api-keys`],
    ['POST', `/accounts/${bob.account_id}/api-keys`, '{}'],
    ['GET', '/audit'],
  ];
  for (const [method, route, body] of routes) {
    for (const headers of [
      { authorization: `Bearer ${alice.api_key}` } as Record<string, string>,
      { authorization: basic(alice.account_id, alice.api_key) },
      { 'api-key': alice.api_key },
      { 'x-auth-token': alice.api_key },
      { authorization: `Bearer ${operator.token.slice(0, -1)}` },
      { authorization: `Bearer ${operator.token} ${alice.api_key}` },
    ]) {
      const res = await fetch(`${base}/admin/v1${route}`, {
        method,
        headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
        body,
      }).catch((err: Error) => ({ status: 0, text: async () => err.message }));
      const text = await res.text();
      assert.ok(
        [400, 401].includes(res.status),
        `${method} ${route} ${JSON.stringify(headers).slice(0, 40)}: ${res.status} ${text.slice(0, 200)}`,
      );
    }
  }
  const shown = await fetch(`${base}/admin/v1/accounts/${bob.account_id}`, {
    headers: { authorization: `Bearer ${operator.token}` },
  });
  const { data } = await shown.json();
  assert.equal(data.disabled, false, 'bob was disabled');
  assert.equal(data.mask_digits, 4, "bob's masking was switched off");
});

/** Sends `request` as is and waits for the server to close the connection. */
function rawRequest(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

// ---- Log poisoning: request values never forge a log line, and secrets are never logged ----

test('log poisoning: newlines, ANSI escapes and JSON in paths, headers and bodies stay inside one JSON line', async () => {
  const forged = '"}\n{"level":30,"msg":"FORGED","account":"x';
  const ansi = '\u001b[2J\u001b[31mFORGED';
  const key = alice.api_key;
  const before = logText.length;
  const attempts: [string, RequestInit][] = [
    [`/v3/exports/${encodeURIComponent(forged)}`, { headers: { 'api-key': key } }],
    [`/v3/exports/${encodeURIComponent(ansi)}`, { headers: { 'api-key': key } }],
    [`/v3/exports?x=${encodeURIComponent(forged)}&api_key=${key}`, {}],
    [
      '/v3/exports',
      {
        headers: {
          'api-key': key,
          'x-request-id': forged.replace(/\n/g, ' '),
        },
      },
    ],
    [
      '/v3/exports',
      {
        method: 'POST',
        headers: { 'api-key': key, 'content-type': 'application/vnd.api+json' },
        body: forged,
      },
    ],
    [
      `/v2/accounts/${alice.account_id}/cdrs?filter=${encodeURIComponent(forged)}`,
      { headers: { 'x-auth-token': key } },
    ],
    [
      '/ingest/freeswitch',
      {
        method: 'POST',
        headers: { authorization: basic(alice.account_id, key), 'content-type': 'application/json' },
        body: `{"variables": {"uuid": ${JSON.stringify(forged + ansi)}}}`,
      },
    ],
  ];
  for (const [url, init] of attempts) {
    const res = await fetch(`${base}${url}`, init);
    await res.text();
  }
  // Control characters in header values (fetch refuses to send them): on a raw socket.
  for (const header of [`User-Agent: ${ansi}`, `X-Request-Id: ${ansi}`, `Referer: \r{"msg":"FORGED"}`]) {
    await rawRequest(
      `GET /v3/exports HTTP/1.1\r\nHost: x\r\nApi-Key: ${key}\r\n${header}\r\nConnection: close\r\n\r\n`,
    );
  }
  await new Promise((r) => setImmediate(r));
  const lines = logText.slice(before).split('\n').filter(Boolean);
  assert.ok(lines.length >= attempts.length, 'the requests were logged');
  for (const line of lines) {
    const entry = JSON.parse(line) as { msg?: string };
    assert.notEqual(entry.msg, 'FORGED', `a forged line: ${line}`);
    assert.ok(!line.includes('\u001b'), `a raw escape in the log: ${line.slice(0, 200)}`);
  }
  assert.ok(!logText.includes(key), 'an API key reached the log');
  assert.ok(!logText.includes(bob.api_key), 'an API key reached the log');
});

// ---- `cdrex trunks list --account`: its input is checked before any SQL ----

test('trunks list: hostile --account values are refused, never an SQL error, never another account', async () => {
  const env = testEnv(db, dataDir);
  for (const value of [
    '$1',
    "' or '1'='1",
    `${bob.account_id}' --`,
    `${bob.account_id}\n`,
    bob.account_id.toUpperCase(),
    '%s',
    '',
  ]) {
    const r = await cdrex(['trunks', 'list', '--account', value], env);
    assert.notEqual(r.code, 0, `${JSON.stringify(value)}: exit 0 ${r.stdout}`);
    assert.equal(r.stdout.trim(), '', `${JSON.stringify(value)} printed ${r.stdout}`);
    assert.ok(
      !/syntax error|sql|stack|at .*\.js/i.test(r.stderr),
      `${JSON.stringify(value)}: ${r.stderr.slice(0, 300)}`,
    );
  }
});

// ---- csv_download tokens, Kazoo details and summaries, DIDWW resources: another account's ids
// answer exactly as ids that exist nowhere ----

/** Status and body with the per-request parts (request id, echoed token) taken out. */
async function answerOf(url: string, headers: Record<string, string>) {
  const res = await fetch(`${base}${url}`, { headers });
  const text = (await res.text())
    .replace(/"request_id":"[^"]*"/g, '')
    .replace(/"auth_token":"[^"]*"/g, '')
    // The envelope's own clock: two answers a second apart differ there and nowhere else.
    .replace(/"timestamp":"[^"]*"/g, '')
    .replace(/[0-9a-f]{32}/g, 'ID')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID');
  return { status: res.status, text };
}

async function kazooToken(apiKey: string, scope?: string): Promise<string> {
  const res = await fetch(`${base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { api_key: apiKey, ...(scope ? { scope } : {}) } }),
  });
  assert.equal(res.status, 201);
  return ((await res.json()) as { auth_token: string }).auth_token;
}

test("another account's CDRs, summaries and exports answer as if they did not exist; csv_download reads CSV only", async () => {
  const start = BigInt(NOW.getTime() - 900_000) * 1000n;
  const posted = await ingest(basic(alice.account_id, alice.api_key), fsCdr('alice-detail', start));
  assert.equal(posted.status, 200, posted.text);
  const cdrId = JSON.parse(posted.text).id as string;
  const exportId = await createExport(base, alice.api_key, {
    filters: { year: NOW.getUTCFullYear(), month: NOW.getUTCMonth() + 1 },
    export_type: 'cdr_in',
  });
  const nowhere = randomBytes(16).toString('hex');
  const bobToken = await kazooToken(bob.api_key);
  const kazoo = { 'x-auth-token': bobToken };
  const pairs: [string, string, Record<string, string>][] = [
    [`/v2/accounts/${alice.account_id}/cdrs/summary`, `/v2/accounts/${nowhere}/cdrs/summary`, kazoo],
    [`/v2/accounts/${alice.account_id}/cdrs/${cdrId}`, `/v2/accounts/${nowhere}/cdrs/${cdrId}`, kazoo],
    [
      `/v2/accounts/${bob.account_id}/cdrs/${cdrId}`,
      `/v2/accounts/${bob.account_id}/cdrs/${cdrId.replace(/.$/, (c) => (c === '0' ? '1' : '0'))}`,
      kazoo,
    ],
    [`/v2/accounts/${alice.account_id}/cdrs?accept=csv`, `/v2/accounts/${nowhere}/cdrs?accept=csv`, kazoo],
    [
      `/v3/exports/${exportId}`,
      `/v3/exports/${randomBytes(16)
        .toString('hex')
        .replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')}`,
      { 'api-key': bob.api_key },
    ],
  ];
  for (const [theirs, missing, headers] of pairs) {
    const a = await answerOf(theirs, headers);
    const b = await answerOf(missing, headers);
    assert.ok(a.status >= 400, `${theirs}: ${a.status} ${a.text.slice(0, 200)}`);
    assert.deepEqual(a, b, `${theirs} answers unlike ${missing}`);
    assert.ok(!a.text.includes('alice-detail'));
  }
  // Bob's own summary counts none of alice's calls.
  const own = await fetch(`${base}/v2/accounts/${bob.account_id}/cdrs/summary`, { headers: kazoo });
  assert.equal(own.status, 200);
  const ownText = await own.text();
  assert.ok(!ownText.includes(alice.account_id));

  // A csv_download token: its own account's CDR list as CSV, and nothing else.
  const csvToken = await kazooToken(alice.api_key, 'csv_download');
  const csv = await fetch(`${base}/v2/accounts/${alice.account_id}/cdrs?accept=csv`, {
    headers: { 'x-auth-token': csvToken },
  });
  assert.equal(csv.status, 200);
  assert.ok((await csv.text()).includes('alice-detail'));
  const refused: [string, Record<string, string>, RequestInit?][] = [
    [`/v2/accounts/${alice.account_id}/cdrs`, { 'x-auth-token': csvToken }],
    [`/v2/accounts/${alice.account_id}/cdrs?accept=json`, { 'x-auth-token': csvToken, accept: 'text/csv' }],
    [`/v2/accounts/${alice.account_id}/cdrs/summary?accept=csv`, { 'x-auth-token': csvToken }],
    [`/v2/accounts/${alice.account_id}/cdrs/${cdrId}?accept=csv`, { 'x-auth-token': csvToken }],
    [`/v2/accounts/${alice.account_id}/cdrs/interaction?accept=csv`, { 'x-auth-token': csvToken }],
    [`/v2/accounts/${bob.account_id}/cdrs?accept=csv`, { 'x-auth-token': csvToken }],
    [`/v3/exports`, { 'api-key': csvToken }],
    [`/v3/exports/${exportId}`, { authorization: `Bearer ${csvToken}` }],
    [`/admin/v1/accounts`, { authorization: `Bearer ${csvToken}` }],
    [
      `/v2/accounts/${alice.account_id}/cdrs`,
      { 'x-auth-token': csvToken, 'content-type': 'text/csv' },
      { method: 'POST', body: 'a,b\n' },
    ],
  ];
  for (const [url, headers, init] of refused) {
    const res = await fetch(`${base}${url}`, { ...init, headers });
    const text = await res.text();
    assert.equal(
      res.status,
      401,
      `${init?.method ?? 'GET'} ${url} ${JSON.stringify(headers).slice(0, 60)}: ${res.status} ${text.slice(0, 200)}`,
    );
  }
  // Nor does it mint a full token.
  const minted = await fetch(`${base}/v2/api_auth`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: { api_key: csvToken } }),
  });
  assert.equal(minted.status, 401);
});

// ---- /ingest/freeswitch: hostile values in the CDR answer 200 or 400, never 5xx, and store
// nothing outside the posting account ----

test('freeswitch: NUL bytes, lone surrogates, SQL fragments and huge values answer 2xx or 400, never 5xx', async () => {
  const before = Number(
    (await db.pool.query(`select count(*) from cdrs where account_id <> $1`, [alice.account_id])).rows[0]
      .count,
  );
  const start = BigInt(NOW.getTime() - 1_200_000) * 1000n;
  const values = [
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    "'; drop table cdrs; --",
    '$1',
    '%s',
    ':name',
    '${x}',
    'x'.repeat(200_000),
    '\u202e',
    bob.account_id,
  ];
  const fields = [
    'uuid',
    'caller_id_number',
    'destination_number',
    'hangup_cause',
    'start_uepoch',
    'billsec',
    'accountcode',
    'sip_call_id',
  ];
  const auth = basic(alice.account_id, alice.api_key);
  for (const field of fields) {
    for (const [i, value] of values.entries()) {
      const doc = JSON.parse(fsCdr(`hostile-${field}-${i}`, start + BigInt(i))) as {
        variables: Record<string, string>;
      };
      doc.variables[field] = value;
      const body = JSON.stringify(doc);
      for (const [type, payload] of [
        ['application/json', body],
        ['application/x-www-form-urlencoded', `cdr=${encodeURIComponent(body)}`],
        ['application/x-www-form-base64-encoded', `cdr=${Buffer.from(body).toString('base64')}`],
      ]) {
        const res = await fetch(`${base}/ingest/freeswitch`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': type },
          body: payload,
        });
        const text = await res.text();
        assert.ok(
          res.status === 200 || res.status === 400 || res.status === 413,
          `${field}=${JSON.stringify(value.slice(0, 20))} as ${type}: ${res.status} ${text.slice(0, 300)}`,
        );
      }
    }
  }
  // Top-level shapes: not an object, arrays, nested NULs in keys.
  for (const body of [
    'null',
    '[]',
    '"x"',
    '{"variables": null}',
    '{"variables": []}',
    '{"\\u0000": 1}',
    '{"variables": {"\\u0000uuid": "x"}}',
    '{"callflow": "$1"}',
  ]) {
    const res = await fetch(`${base}/ingest/freeswitch`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    assert.ok(res.status === 200 || res.status === 400, `${body}: ${res.status} ${text.slice(0, 300)}`);
  }
  const after = Number(
    (await db.pool.query(`select count(*) from cdrs where account_id <> $1`, [alice.account_id])).rows[0]
      .count,
  );
  assert.equal(after, before, "a post of alice's stored a row for another account");
});

// ---- Two accounts racing their export creates: each gets its own limit, no more, no less ----

test('concurrent creates of two accounts: each has exactly its own pending limit (3), the rest 422', async () => {
  const carol = await createAccount(db.pool, masterKey, 'carol');
  const dave = await createAccount(db.pool, masterKey, 'dave');
  const create = async (apiKey: string) => {
    const res = await fetch(`${base}/v3/exports`, {
      method: 'POST',
      headers: { 'api-key': apiKey, 'content-type': 'application/vnd.api+json' },
      body: JSON.stringify({
        data: {
          type: 'exports',
          attributes: {
            filters: { year: NOW.getUTCFullYear(), month: NOW.getUTCMonth() + 1 },
            export_type: 'cdr_in',
          },
        },
      }),
    });
    await res.text();
    return res.status;
  };
  const statuses = await Promise.all(
    Array.from({ length: 24 }, (_, i) => create(i % 2 ? carol.api_key : dave.api_key)),
  );
  for (const [name, key, parity] of [
    ['dave', dave, 0],
    ['carol', carol, 1],
  ] as const) {
    const own = statuses.filter((_, i) => i % 2 === parity);
    assert.equal(own.filter((s) => s === 201).length, 3, `${name}: ${own.join(',')}`);
    assert.equal(own.filter((s) => s === 422).length, 9, `${name}: ${own.join(',')}`);
    const { rows } = await db.pool.query(`select count(*)::int as n from exports where account_id = $1`, [
      key.account_id,
    ]);
    assert.equal(rows[0].n, 3);
  }
});

// ---- Masked numbers stay out of the log ----

test("an account that masks: its callers' numbers appear in no log line, whatever the request", async () => {
  const operator = await createOperatorToken(db.worker, 'round-4-mask', { actor: 'test' });
  const erin = await createAccount(db.pool, masterKey, 'erin');
  const set = await fetch(`${base}/admin/v1/accounts/${erin.account_id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' },
    body: '{"mask_digits": 4}',
  });
  assert.equal(set.status, 200);
  const caller = '+4930901820717';
  const start = BigInt(NOW.getTime() - 1_500_000) * 1000n;
  const doc = JSON.parse(fsCdr('masked-call', start)) as { variables: Record<string, string> };
  Object.assign(doc.variables, { caller_id_number: caller, ani: caller, sip_from_user: caller });
  const before = logText.length;
  const posted = await ingest(basic(erin.account_id, erin.api_key), JSON.stringify(doc));
  assert.equal(posted.status, 200, posted.text);
  const headers = { 'x-auth-token': erin.api_key };
  const cdrs = `/v2/accounts/${erin.account_id}/cdrs`;
  for (const url of [
    `${cdrs}?filter_caller_id_number=${encodeURIComponent(caller)}`,
    `${cdrs}?filter_caller_id_number=${encodeURIComponent(caller)}&accept=csv`,
    `${cdrs}/summary?filter_caller_id_number=${encodeURIComponent(caller)}`,
    `${cdrs}?filter_caller_id_number=${encodeURIComponent(caller)}&created_from=x`,
    `${cdrs}?filter_not_caller_id_number=${encodeURIComponent(caller)}`,
    `${cdrs}?FILTER%5Fcaller_id_number=${encodeURIComponent(caller)}`,
    `${cdrs}?filter_caller_id_number[]=${encodeURIComponent(caller)}`,
    `${cdrs}?filter_ani=${encodeURIComponent(JSON.stringify([caller, '+1']))}`,
    `${cdrs}?filter_caller_id_number=${caller.slice(1)}&filter_caller_id_number=${caller.slice(1)}`,
  ]) {
    const res = await fetch(`${base}${url}`, { headers });
    const text = await res.text();
    assert.ok(!text.includes(caller.slice(1)), `${url} answered the unmasked number`);
  }
  // A post the switch gets refused for (a start outside the window), carrying the number.
  const old = JSON.parse(fsCdr('masked-old', 1_000_000_000_000_000n)) as {
    variables: Record<string, string>;
  };
  Object.assign(old.variables, { caller_id_number: caller });
  await ingest(basic(erin.account_id, erin.api_key), JSON.stringify(old));
  await new Promise((r) => setImmediate(r));
  const logged = logText.slice(before);
  assert.ok(logged.includes('request completed'), 'the requests were logged');
  const digits = caller.slice(1);
  const leaked = logged.split('\n').filter((l) => l.includes(digits));
  assert.deepEqual(leaked, [], 'a masked number reached the log');
});

// ---- Kazoo uploads through COPY (over 5,000 records): no value can shift a column into
// account_id or source, and each value is stored as sent ----

test('a large Kazoo upload with tabs, newlines, backslashes and COPY markers stays in its own account, byte for byte', async () => {
  const frank = await createAccount(db.pool, masterKey, 'frank');
  const nowG = Math.floor(NOW.getTime() / 1000) + 62167219200;
  const nasty = [
    `x\t${bob.account_id}\tadmin\tt`,
    `\\.\n\\N\t${bob.account_id}`,
    '\\',
    '\\N',
    '\r\n\\.\r\n',
    `"},{"account_id":"${bob.account_id}`,
    '\u0008\u000b\u000c',
  ];
  const rows = Array.from({ length: 5200 }, (_, i) =>
    JSON.stringify({
      call_id: `copy-upload-${i}`,
      timestamp: String(nowG - 900 - i),
      duration_seconds: '1',
      caller_id_name: nasty[i % nasty.length],
      account_id: bob.account_id,
      custom_channel_vars: { account_id: bob.account_id },
    }),
  ).join('\n');
  const res = await fetch(`${base}/v2/accounts/${frank.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'x-auth-token': frank.api_key, 'content-type': 'application/x-ndjson' },
    body: rows,
  });
  const text = await res.text();
  assert.equal(res.status, 201, text.slice(0, 300));
  assert.equal(JSON.parse(text).data.inserted, 5200);
  const { rows: stored } = await db.pool.query<{
    account_id: string;
    call_id: string;
    source_name: string;
    source: string;
  }>(`select account_id, call_id, source_name, source from cdrs where call_id like 'copy-upload-%'`);
  assert.equal(stored.length, 5200);
  for (const row of stored) {
    assert.equal(row.account_id, frank.account_id, row.call_id);
    assert.equal(row.source, 'upload', row.call_id);
    const i = Number(row.call_id.slice('copy-upload-'.length));
    assert.equal(row.source_name, nasty[i % nasty.length], row.call_id);
  }
});

// ---- The page path under a race: two accounts' requests interleaved on ONE pooled connection ----

test('Kazoo pages of two accounts, 60 at once over a one-connection pool: each answer holds its own rows only', async () => {
  const onePool = () => new pg.Pool({ connectionString: db.roles.app, max: 1 });
  const pools = [onePool(), onePool()];
  const narrowDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-round4-one-'));
  const narrow = await buildApp(
    {
      pool: pools[0],
      streamPool: pools[1],
      workerPool: db.worker,
      config: loadConfig(testEnv(db, narrowDir)),
      masterKey,
      now: () => NOW,
    },
    pino({ level: 'silent' }),
  );
  await narrow.listen({ port: 0, host: '127.0.0.1' });
  after(async () => {
    await narrow.close();
    await Promise.all(pools.map((p) => p.end()));
    fs.rmSync(narrowDir, { recursive: true, force: true });
  });
  const narrowBase = `http://127.0.0.1:${(narrow.server.address() as { port: number }).port}`;
  const page = async (who: { account_id: string; api_key: string }, i: number) => {
    // Between the pages: filters that match nothing, and requests refused before any query (a NUL).
    const query =
      i % 5 === 4 ? 'start_key=%00' : i % 3 === 0 ? 'page_size=1000' : 'filter_caller_id_number=$1';
    const res = await fetch(`${narrowBase}/v2/accounts/${who.account_id}/cdrs?${query}`, {
      headers: { 'x-auth-token': who.api_key },
    });
    const text = await res.text();
    const body = JSON.parse(text) as { data?: { id: string }[] };
    const ids = Array.isArray(body.data) ? body.data.map((d) => d.id) : [];
    return { status: res.status, who, ids, query, text: text.slice(0, 300) };
  };
  const own = async (who: { account_id: string }) =>
    new Set(
      (
        await db.pool.query<{ call_id: string }>(`select call_id from cdrs where account_id = $1`, [
          who.account_id,
        ])
      ).rows.map((r) => r.call_id),
    );
  const ownCalls = new Map([
    [alice.account_id, await own(alice)],
    [bob.account_id, await own(bob)],
  ]);
  assert.ok(ownCalls.get(alice.account_id)!.size > 0 && ownCalls.get(bob.account_id)!.size > 0);
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => page(i % 2 ? bob : alice, i)));
  for (const a of answers) {
    assert.ok(a.status < 500, `${a.query}: ${a.status} ${a.text}`);
    if (a.query !== 'page_size=1000') continue;
    assert.equal(a.status, 200, a.text);
    assert.ok(a.ids.length > 0, `${a.who === alice ? 'alice' : 'bob'} got an empty page`);
    // Kazoo ids embed the call id; none of them is the other account's.
    const other = ownCalls.get(a.who === alice ? bob.account_id : alice.account_id)!;
    const mine = ownCalls.get(a.who.account_id)!;
    for (const id of a.ids) {
      const foreign = [...other].filter((c) => id.includes(c) && ![...mine].some((m) => id.includes(m)));
      assert.deepEqual(foreign, [], `a page of ${a.who === alice ? 'alice' : 'bob'} held ${id}`);
    }
  }
});
