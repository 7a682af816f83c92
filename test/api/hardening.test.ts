// Issue 11, finding 7 ("smaller"): each defence of docs/security.md's "Smaller hardening" section,
// tried over HTTP the way a client (or an attacker holding one leaked value) would.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { loadMasterKey } from '../../src/accounts/secrets.js';
import { loadConfig } from '../../src/config.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { cdrex } from '../helpers/cli.js';
import { kazooClient } from '../helpers/http.js';
import { NOW, startServer, testEnv, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

// Every file this process opens for writing, with the mode it was created with. cdrex's modules
// share this `fs` object, so the server and worker below write through the wrapper.
const written: { file: string; mode: number }[] = [];
const createWriteStream = fs.createWriteStream;
fs.createWriteStream = ((...args: Parameters<typeof fs.createWriteStream>) => {
  const stream = createWriteStream(...args);
  stream.once('open', (fd: number) =>
    written.push({ file: String(args[0]), mode: fs.fstatSync(fd).mode & 0o777 }),
  );
  return stream;
}) as typeof fs.createWriteStream;
process.umask(0o022); // the usual default, under which files are 0644 unless cdrex says otherwise

const db = await createTestDatabase();
const server = await startServer(db);
const alice = await server.newAccount('alice');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const cdrsPath = (account = alice) => `/v2/accounts/${account.account_id}/cdrs`;

const call = kazooClient(server.base);

async function apiAuth(apiKey: string, extra: Record<string, unknown> = {}) {
  const res = await call('PUT', '/v2/api_auth', { body: { data: { api_key: apiKey, ...extra } } });
  assert.equal(res.status, 201, res.text);
  return { token: String(res.json.auth_token), data: res.json.data as Record<string, unknown> };
}

const HOSTILE = [
  '=HYPERLINK("http://x","y")',
  '+SUM(1,2)',
  '-2+3+cmd|" /C calc"!A0',
  '@SUM(1)',
  '\t=1+1',
  '\r=1+1',
];

function cdr(i: number, extra: Record<string, unknown> = {}) {
  return {
    call_id: `hard-${i}`,
    timestamp: String(nowG - 3600 - i * 60),
    duration_seconds: '30',
    billing_seconds: '25',
    caller_id_number: '+442071234567',
    callee_id_number: '-12.5',
    caller_id_name: `Caller ${i}`,
    direction: 'inbound',
    cost: '-125000',
    ...extra,
  };
}

const seeded = await call('PUT', cdrsPath(), {
  token: alice.api_key,
  body: {
    data: [
      ...HOSTILE.map((name, i) => cdr(i, { caller_id_name: name })),
      cdr(90, { caller_id_name: 'Plain Name', callee_id_number: '+15550001', cost: '2500' }),
    ],
  },
});
assert.equal(seeded.status, 201, seeded.text);

describe('cdrex accounts rotate-key', () => {
  test('revokes every api_auth token of the account, at once', async () => {
    const bob = await server.newAccount('bob');
    const carol = await server.newAccount('carol');
    const [one, two] = [await apiAuth(bob.api_key), await apiAuth(bob.api_key)];
    const download = await apiAuth(bob.api_key, { scope: 'csv_download' });
    const other = await apiAuth(carol.api_key);
    for (const t of [one, two])
      assert.equal((await call('GET', cdrsPath(bob), { token: t.token })).status, 200);

    const rotated = await cdrex(
      ['accounts', 'rotate-key', '--account', bob.account_id],
      testEnv(db, server.config.dataDir),
    );
    assert.equal(rotated.code, 0, rotated.stderr);

    for (const t of [one, two])
      assert.equal((await call('GET', cdrsPath(bob), { token: t.token })).status, 401);
    const csv = await call('GET', `${cdrsPath(bob)}?accept=csv`, { token: download.token });
    assert.equal(csv.status, 401, 'the download token went too');
    assert.equal(
      (await call('GET', cdrsPath(carol), { token: other.token })).status,
      200,
      "another account's tokens stay",
    );
    const left = await db.pool.query('select count(*)::int as n from api_tokens where account_id = $1', [
      bob.account_id,
    ]);
    assert.equal(left.rows[0].n, 0);
  });
});

describe('the API key is never echoed', () => {
  test('auth_token is "" when the request used the API key; an api_auth token is echoed', async () => {
    const { token } = await apiAuth(alice.api_key);
    const paths = [
      `${cdrsPath()}?page_size=2`,
      `${cdrsPath()}?paginate=false`,
      `${cdrsPath()}/summary`,
      `${cdrsPath()}/interaction`,
      `${cdrsPath()}/legs/none`,
      `${cdrsPath()}/000000-none`,
      `/v2/accounts/${alice.account_id}/users/u1/cdrs`,
    ];
    for (const url of paths) {
      const byKey = await call('GET', url, { token: alice.api_key });
      assert.ok(!byKey.text.includes(alice.api_key), `${url} echoed the API key`);
      assert.equal(byKey.json.auth_token, '', url);
      const byQuery = await call('GET', `${url}${url.includes('?') ? '&' : '?'}auth_token=${alice.api_key}`);
      assert.ok(!byQuery.text.includes(alice.api_key), `${url}?auth_token= echoed the API key`);
      // An api_auth token is echoed on success (errors answer with "", as they always have).
      const byToken = await call('GET', url, { token });
      assert.equal(byToken.json.auth_token, byToken.status === 200 ? token : '', url);
    }
    const upload = await call('PUT', cdrsPath(), { token: alice.api_key, body: { data: [cdr(50)] } });
    assert.equal(upload.status, 201);
    assert.equal(upload.json.auth_token, '');
    assert.ok(!upload.text.includes(alice.api_key));
    // Kazoo's envelope keeps its shape: the key is there, empty.
    const listed = await call('GET', cdrsPath(), { token: alice.api_key });
    for (const k of [
      'auth_token',
      'data',
      'status',
      'request_id',
      'revision',
      'timestamp',
      'version',
      'node',
    ])
      assert.ok(k in listed.json, k);
  });
});

describe("the portal's CSV link", () => {
  test('carries a short-lived token that only downloads CSV', async () => {
    const { token, data } = await apiAuth(alice.api_key, { scope: 'csv_download' });
    assert.equal(data.expires_in, 60);
    assert.equal(data.scope, 'csv_download');
    const stored = await db.pool.query<{ ttl: number; scope: string }>(
      `select extract(epoch from expires_at - created_at)::int as ttl, scope from api_tokens
        where account_id = $1 and scope is not null`,
      [alice.account_id],
    );
    assert.deepEqual(
      stored.rows.map((r) => [r.ttl, r.scope]),
      [[60, 'csv_download']],
    );

    // The link exactly as the portal builds it (web/src/pages/Calls.tsx).
    const link = new URLSearchParams({
      created_from: String(nowG - 86400),
      created_to: String(nowG),
      paginate: 'false',
      accept: 'csv',
      csv_formula_escape: 'true',
      file_name: 'cdrs-today.csv',
      auth_token: token,
    });
    const csv = await call('GET', `${cdrsPath()}?${link}`, { headers: { Accept: 'text/html' } });
    assert.equal(csv.status, 200);
    assert.ok(csv.text.includes('hard-90'));
    assert.ok(csv.text.includes(`"'=HYPERLINK(""http://x"",""y"")"`), 'the portal gets escaped cells');
    const byHeader = await call('GET', `/v2/accounts/${alice.account_id}/users/u1/cdrs`, {
      token,
      headers: { Accept: 'text/csv' },
    });
    assert.equal(byHeader.status, 200);

    for (const [method, url, body] of [
      ['GET', cdrsPath()],
      ['GET', `${cdrsPath()}?paginate=false`],
      ['GET', `${cdrsPath()}/summary`],
      ['GET', `${cdrsPath()}/summary?accept=csv`],
      ['GET', `${cdrsPath()}/interaction?accept=csv`],
      ['GET', `${cdrsPath()}/legs/x?accept=csv`],
      ['GET', `${cdrsPath()}/000000-hard-1?accept=csv`],
      ['PUT', `${cdrsPath()}?accept=csv`, { data: [cdr(60)] }],
      ['POST', `${cdrsPath()}?accept=csv`, { data: [cdr(61)] }],
    ] as [string, string, unknown?][]) {
      const res = await call(method, url, { token, body });
      assert.equal(res.status, 401, `${method} ${url}`);
      assert.equal(res.json.message, 'invalid_credentials');
    }
    const ordinary = await apiAuth(alice.api_key);
    assert.equal(ordinary.data.expires_in, 3600, 'ordinary tokens keep their TTL');
    assert.equal((await call('GET', cdrsPath(), { token: ordinary.token })).status, 200);
  });

  test('CDREX_DOWNLOAD_TOKEN_TTL_S sets its life', async () => {
    const other = await startServer(db, { worker: false, env: { CDREX_DOWNLOAD_TOKEN_TTL_S: '15' } });
    const res = await fetch(`${other.base}/v2/api_auth`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: { api_key: alice.api_key, scope: 'csv_download' } }),
    });
    assert.equal(((await res.json()) as { data: { expires_in: number } }).data.expires_in, 15);
  });
});

describe('CSV formula escaping (portal download only)', () => {
  const rows = (text: string) =>
    parse(text, { columns: true, relax_column_count: false }) as Record<string, string>[];
  const byCall = (list: Record<string, string>[]) => new Map(list.map((r) => [r.call_id, r]));

  test('cells a spreadsheet would run get a leading quote; numbers and everything else stay', async () => {
    const range = `created_from=${nowG - 7 * 86400}&created_to=${nowG}&filter_call_id=${encodeURIComponent(
      JSON.stringify([...HOSTILE.map((_, i) => `hard-${i}`), 'hard-90']),
    )}`;
    const literal = await call('GET', `${cdrsPath()}?accept=csv&${range}`, { token: alice.api_key });
    const escaped = await call('GET', `${cdrsPath()}?accept=csv&csv_formula_escape=true&${range}`, {
      token: alice.api_key,
    });
    assert.equal(literal.status, 200, literal.text);
    assert.equal(escaped.status, 200, escaped.text);
    const plain = byCall(rows(literal.text));
    const safe = byCall(rows(escaped.text));
    assert.equal(plain.size, HOSTILE.length + 1);
    assert.deepEqual([...safe.keys()].sort(), [...plain.keys()].sort());

    // API CSV is literal: the stored text, formulas and all.
    HOSTILE.forEach((name, i) => assert.equal(plain.get(`hard-${i}`)!.caller_id_name, name));
    // The portal's: a leading ' on exactly those cells.
    HOSTILE.forEach((name, i) => assert.equal(safe.get(`hard-${i}`)!.caller_id_name, `'${name}`));
    const hyperlink = safe.get('hard-0')!;
    assert.equal(hyperlink.caller_id_name, `'=HYPERLINK("http://x","y")`);
    // Signed plain numbers are not formulas: a phone number, a negative amount, untouched.
    assert.equal(hyperlink.caller_id_number, '+442071234567');
    assert.equal(hyperlink.callee_id_number, '-12.5');
    // -12.5 USD in Kazoo's units (cb_cdrs prints cost as 1 USD = 10000), sign kept.
    assert.equal(hyperlink.cost, '-125000');
    // Every other cell, of every type (booleans, times, empty cells), is byte for byte the same.
    for (const [id, row] of safe) {
      for (const [column, value] of Object.entries(row)) {
        const before = plain.get(id)![column];
        if (column === 'caller_id_name' && id !== 'hard-90') continue;
        assert.equal(value, before, `${id}.${column}`);
      }
    }
    assert.equal(safe.get('hard-90')!.caller_id_name, 'Plain Name');
    assert.equal(safe.get('hard-90')!.imported, plain.get('hard-90')!.imported);
    // The empty cells stay empty (NULL prints nothing, and so does its escaped form).
    const header = literal.text.split('\n')[0];
    assert.equal(escaped.text.split('\n')[0], header);
  });
});

describe('the Kazoo node field', () => {
  const kazooNode = (name: string) => createHash('md5').update(name).digest('base64url');

  test('names no host: a digest of CDREX_NODE_NAME (default cdrex@localhost)', async () => {
    const ok = await call('GET', cdrsPath(), { token: alice.api_key });
    const refused = await call('GET', cdrsPath(), { token: 'wrong' });
    for (const res of [ok, refused]) {
      const node = String(res.json.node);
      assert.equal(node, kazooNode('cdrex@localhost'));
      assert.ok(!Buffer.from(node, 'base64url').toString('latin1').includes(os.hostname()));
      assert.ok(!res.text.includes(os.hostname()) || os.hostname().length < 4);
    }
    const named = await startServer(db, { worker: false, env: { CDREX_NODE_NAME: 'cdrex@eu-1' } });
    const res = await fetch(`${named.base}${cdrsPath()}`, { headers: { 'X-Auth-Token': 'wrong' } });
    assert.equal(((await res.json()) as { node: string }).node, kazooNode('cdrex@eu-1'));
  });
});

describe('file modes', () => {
  test('the data directory is 0700 and master.key 0600', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-modes-'));
    try {
      const dataDir = path.join(root, 'data');
      loadMasterKey(loadConfig({ CDREX_DATA_DIR: dataDir }));
      assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700);
      assert.equal(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test('export files are 0600 in a 0700 directory', async () => {
    await server.seed(alice.account_id, 'cdr_in', 20);
    const id = await server.createExport(alice.api_key, {
      filters: { year: THIS_YEAR, month: THIS_MONTH },
      export_type: 'cdr_in',
    });
    await server.exportFileUrl(alice.api_key, id);
    const dir = server.config.exportDir;
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    const files = fs.readdirSync(dir);
    assert.ok(files.length > 0);
    for (const f of files) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  });

  test('the spool of a streamed upload is 0600', async () => {
    const before = written.length;
    const body = [cdr(70), cdr(71)].map((r) => JSON.stringify(r)).join('\n');
    const res = await call('PUT', cdrsPath(), { token: alice.api_key, body, type: 'application/x-ndjson' });
    assert.equal(res.status, 201, res.text);
    const spools = written
      .slice(before)
      .filter((w) => w.file.includes('cdrex-load-') || /spool/.test(w.file));
    assert.ok(spools.length > 0, 'the upload was spooled');
    for (const s of spools) assert.equal(s.mode, 0o600, s.file);
  });
});
