// One account never sees another's data: for every route of both dialects, account B's
// credentials against account A's exports, files, CDRs, users and interactions get DIDWW's 404
// (or 401 where the path names A's account, in Kazoo) and never any of A's data.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const server = await startServer(await createTestDatabase());
const a = await server.newAccount('a');
const b = await server.newAccount('b');
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;
const secret = 'a-secret-marker';

await fetch(`${server.base}/v2/accounts/${a.account_id}/cdrs`, {
  method: 'PUT',
  headers: { 'X-Auth-Token': a.api_key, 'Content-Type': 'application/json' },
  body: JSON.stringify({
    data: [
      {
        call_id: 'a-call',
        timestamp: nowG - 600,
        duration_seconds: 10,
        owner_id: 'a-user',
        interaction_id: 'a-inter',
        caller_id_name: secret,
      },
    ],
  }),
});
await server.seed(a.account_id, 'cdr_in', 50);
const exportId = await server.createExport(a.api_key, {
  export_type: 'cdr_in',
  filters: { year: THIS_YEAR, month: THIS_MONTH },
});
const fileUrl = await server.exportFileUrl(a.api_key, exportId);
// A's CDR by its real Kazoo id, read as A.
const cdrId = await (async () => {
  const res = await fetch(`${server.base}/v2/accounts/${a.account_id}/cdrs?filter_call_id=a-call`, {
    headers: { 'X-Auth-Token': a.api_key },
  });
  return ((await res.json()) as { data: { id: string }[] }).data[0].id;
})();

test("DIDWW: B gets 404 for every one of A's exports and files, and sees none in lists", async () => {
  const asB = { 'Api-Key': b.api_key, 'Content-Type': 'application/vnd.api+json' };
  const cases: [string, string, string?][] = [
    ['GET', `/v3/exports/${exportId}`],
    [
      'PATCH',
      `/v3/exports/${exportId}`,
      JSON.stringify({ data: { id: exportId, type: 'exports', attributes: { external_reference_id: 'x' } } }),
    ],
    ['DELETE', `/v3/exports/${exportId}`],
    ['GET', new URL(fileUrl).pathname],
    ['HEAD', new URL(fileUrl).pathname],
    ['GET', `/v3/cdr_exports/${exportId}`],
  ];
  // To B, A's export and file must look exactly like ones that never existed: the same answer as
  // for random ids, but for the id it echoes.
  const ghostExport = crypto.randomUUID();
  const fileName = new URL(fileUrl).pathname.split('/').pop()!;
  const ghostFile = fileName.replace(/^[^.]+/, crypto.randomUUID());
  const ask = async (method: string, path: string, body?: string) => {
    const res = await fetch(`${server.base}${path}`, { method, headers: asB, body });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  for (const [method, path, body] of cases) {
    const real = await ask(method, path, body);
    const ghost = await ask(
      method,
      path.replaceAll(exportId, ghostExport).replace(fileName, ghostFile),
      body?.replaceAll(exportId, ghostExport),
    );
    assert.equal(real.status, 404, `${method} ${path}`);
    assert.deepEqual(
      real,
      {
        ...ghost,
        text: ghost.text.replaceAll(ghostExport, exportId).replaceAll(ghostFile, fileName),
      },
      `${method} ${path}: B learns nothing a random id would not tell`,
    );
    assert.ok(!real.text.includes('Date/Time'), `${method} ${path} returns no CSV`);
  }
  const list = (await (await fetch(`${server.base}/v3/exports`, { headers: asB })).json()) as {
    data: unknown[];
    meta: { total_records: number };
  };
  assert.equal(list.meta.total_records, 0);
  // A's export is untouched.
  const still = await fetch(`${server.base}/v3/exports/${exportId}`, { headers: { 'Api-Key': a.api_key } });
  assert.equal(still.status, 200);
});

test("Kazoo: B's token on A's paths gets 401 invalid_credentials; on its own paths, nothing of A", async () => {
  const paths = [
    `/v2/accounts/${a.account_id}/cdrs`,
    `/v2/accounts/${a.account_id}/cdrs/${cdrId}`,
    `/v2/accounts/${a.account_id}/cdrs/summary`,
    `/v2/accounts/${a.account_id}/cdrs/interaction`,
    `/v2/accounts/${a.account_id}/cdrs/legs/a-inter`,
    `/v2/accounts/${a.account_id}/users/a-user/cdrs`,
    `/v1/accounts/${a.account_id}/cdrs`,
  ];
  for (const path of paths) {
    const variants: Record<string, string>[] = [
      { 'X-Auth-Token': b.api_key },
      { 'X-Auth-Token': b.api_key, Accept: 'text/csv' },
    ];
    for (const headers of variants) {
      const res = await fetch(`${server.base}${path}`, { headers });
      const text = await res.text();
      assert.equal(res.status, 401, path);
      assert.equal(JSON.parse(text).message, 'invalid_credentials');
      assert.ok(!text.includes(secret) && !text.includes('a-call'), `${path} leaks nothing`);
    }
  }
  const upload = await fetch(`${server.base}/v2/accounts/${a.account_id}/cdrs`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': b.api_key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ call_id: 'b-into-a', timestamp: nowG }),
  });
  assert.equal(upload.status, 401);
  // Within B's own account, A's ids name nothing.
  for (const path of [`/cdrs/${cdrId}`, '/cdrs/legs/a-inter', `/cdrs/legs/${cdrId}`]) {
    const res = await fetch(`${server.base}/v2/accounts/${b.account_id}${path}`, {
      headers: { 'X-Auth-Token': b.api_key },
    });
    assert.equal(res.status, 404, path);
  }
  for (const path of ['/cdrs?paginate=false', '/users/a-user/cdrs', '/cdrs/summary']) {
    const res = await fetch(`${server.base}/v2/accounts/${b.account_id}${path}`, {
      headers: { 'X-Auth-Token': b.api_key },
    });
    const text = await res.text();
    assert.equal(res.status, 200, path);
    assert.ok(!text.includes(secret) && !text.includes('a-call'), path);
  }
  const { rows } = await server.db.pool.query(
    "select count(*)::int as n from cdrs where call_id = 'b-into-a'",
  );
  assert.equal(rows[0].n, 0);
});

test("FreeSWITCH: B's key cannot post as A", async () => {
  const res = await fetch(`${server.base}/ingest/freeswitch`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${a.account_id}:${b.api_key}`).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ variables: { uuid: 'x', start_uepoch: '1' } }),
  });
  assert.equal(res.status, 401);
});
