// The OpenAPI documents: /admin/v1/openapi.json describes every admin route, and real responses of
// each route validate against the schema it publishes for that status; the DIDWW and Kazoo
// documents list their dialect's routes, and real answers of those routes validate against them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { createOperatorToken } from '../../src/store/queries/admin.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const { token } = await createOperatorToken(db.worker, 'openapi', { actor: 'test' });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function getDocument(url: string): Promise<Json> {
  const res = await fetch(`${server.base}${url}`);
  assert.equal(res.status, 200, url);
  const doc = (await res.json()) as Json;
  assert.match(String(doc.openapi), /^3\./);
  return doc;
}

const admin = await getDocument('/admin/v1/openapi.json');
const ajv = new Ajv({ strict: false, allErrors: true });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);

/** Calls a route and checks the body against the document's schema for that path, method and
 * status; a status the document does not list fails. */
async function call(method: string, template: string, url: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${server.base}/admin/v1${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const operation = admin.paths[`/admin/v1${template}`]?.[method.toLowerCase()];
  assert.ok(operation, `the document describes ${method} ${template}`);
  const response = operation.responses[String(res.status)];
  assert.ok(response, `${method} ${template}: the document lists status ${res.status}`);
  if (res.status === 204) return {};
  const schema = response.content['application/json'].schema;
  const parsed = JSON.parse(text) as Json;
  const validate = ajv.compile(schema);
  assert.ok(
    validate(parsed),
    `${method} ${template} ${res.status}: ${ajv.errorsText(validate.errors)}\n${text}`,
  );
  return { status: res.status, ...parsed };
}

test('real admin responses validate against /admin/v1/openapi.json, errors included', async () => {
  const created = await call('POST', '/accounts', '/accounts', { name: 'spec', retention_months: 3 });
  assert.equal(created.status, 201);
  const id = created.data.account_id as string;
  await call('GET', '/accounts', '/accounts?limit=1');
  await call('GET', '/accounts/{account_id}', `/accounts/${id}`);
  await call('PATCH', '/accounts/{account_id}', `/accounts/${id}`, {
    name: 'renamed',
    retention_months: null,
    mask_digits: 3,
  });
  await call('POST', '/accounts/{account_id}/disable', `/accounts/${id}/disable`);
  await call('POST', '/accounts/{account_id}/enable', `/accounts/${id}/enable`);
  const key = await call('POST', '/accounts/{account_id}/api-keys', `/accounts/${id}/api-keys`);
  const keys = await call('GET', '/accounts/{account_id}/api-keys', `/accounts/${id}/api-keys`);
  assert.equal(keys.data.length, 2);
  await call('DELETE', '/accounts/{account_id}/api-keys/{key_id}', `/accounts/${id}/api-keys/${key.data.id}`);
  const secret = await call(
    'POST',
    '/accounts/{account_id}/callback-secrets',
    `/accounts/${id}/callback-secrets`,
  );
  await call(
    'POST',
    '/accounts/{account_id}/callback-secrets/{secret_id}/enable',
    `/accounts/${id}/callback-secrets/${secret.data.id}/enable`,
  );
  await call('GET', '/accounts/{account_id}/callback-secrets', `/accounts/${id}/callback-secrets`);
  await call(
    'DELETE',
    '/accounts/{account_id}/callback-secrets/{secret_id}',
    `/accounts/${id}/callback-secrets/${secret.data.id}`,
  );
  const erased = await call('POST', '/accounts/{account_id}/erasures', `/accounts/${id}/erasures`, {
    number: '+442079460123',
  });
  assert.equal(erased.data.cdrs, 0);
  const audit = await call('GET', '/audit', `/audit?account=${id}&limit=3`);
  assert.equal(audit.data.length, 3);
  // Errors are described too.
  assert.equal((await call('GET', '/accounts/{account_id}', `/accounts/${'f'.repeat(32)}`)).status, 404);
  assert.equal(
    (await call('PATCH', '/accounts/{account_id}', `/accounts/${id}`, { retention_months: 1 })).status,
    400,
  );
  const last = (await call('GET', '/accounts/{account_id}/api-keys', `/accounts/${id}/api-keys`)).data[0].id;
  const refused = await call(
    'DELETE',
    '/accounts/{account_id}/api-keys/{key_id}',
    `/accounts/${id}/api-keys/${last}`,
  );
  assert.equal(refused.status, 409);
});

test('the admin document describes every admin route and its operator-token security', async () => {
  const routes = Object.entries(admin.paths as Json).flatMap(([p, ops]) =>
    Object.keys(ops as Json).map((m) => `${m.toUpperCase()} ${p}`),
  );
  assert.deepEqual(routes.sort(), [
    'DELETE /admin/v1/accounts/{account_id}/api-keys/{key_id}',
    'DELETE /admin/v1/accounts/{account_id}/callback-secrets/{secret_id}',
    'GET /admin/v1/accounts',
    'GET /admin/v1/accounts/{account_id}',
    'GET /admin/v1/accounts/{account_id}/api-keys',
    'GET /admin/v1/accounts/{account_id}/callback-secrets',
    'GET /admin/v1/audit',
    'PATCH /admin/v1/accounts/{account_id}',
    'POST /admin/v1/accounts',
    'POST /admin/v1/accounts/{account_id}/api-keys',
    'POST /admin/v1/accounts/{account_id}/callback-secrets',
    'POST /admin/v1/accounts/{account_id}/callback-secrets/{secret_id}/enable',
    'POST /admin/v1/accounts/{account_id}/disable',
    'POST /admin/v1/accounts/{account_id}/enable',
    'POST /admin/v1/accounts/{account_id}/erasures',
  ]);
  assert.deepEqual(admin.security, [{ operatorToken: [] }]);
  assert.equal(admin.components.securitySchemes.operatorToken.scheme, 'bearer');
});

test('the DIDWW and Kazoo documents list their own routes, and only those', async () => {
  const didww = await getDocument('/v3/openapi.json');
  const didwwPaths = Object.keys(didww.paths as Json);
  for (const p of ['/v3/exports', '/v3/exports/{id}', '/v3/cdr_exports', '/v3/cdr_exports/{id}'])
    assert.ok(didwwPaths.includes(p), `${p} in ${didwwPaths.join(', ')}`);
  assert.ok(didwwPaths.every((p) => p.startsWith('/v3/')));
  assert.ok(didww.paths['/v3/exports'].post.responses['201'], 'the create response is described');
  assert.deepEqual(didww.security, [{ apiKey: [] }]);

  for (const version of ['v1', 'v2']) {
    const kazoo = await getDocument(`/${version}/openapi.json`);
    const paths = Object.keys(kazoo.paths as Json);
    for (const p of [`/${version}/api_auth`, `/${version}/accounts/{account_id}/cdrs`])
      assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    assert.ok(paths.every((p) => p.startsWith(`/${version}/`)));
  }
});

/** Checks a real answer of a dialect's route against `doc`'s schema for that path, method and
 * status (whatever media type the document lists it under). */
async function validAgainst(doc: Json, method: string, template: string, res: Response): Promise<Json> {
  const text = await res.text();
  const operation = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(operation, `the document describes ${method} ${template}`);
  const response = operation.responses[String(res.status)];
  assert.ok(response, `${method} ${template}: the document lists status ${res.status}: ${text}`);
  const [media] = Object.values(response.content as Json) as Json[];
  const parsed = JSON.parse(text) as Json;
  const validate = ajv.compile(media.schema);
  assert.ok(
    validate(parsed),
    `${method} ${template} ${res.status}: ${ajv.errorsText(validate.errors)}\n${text}`,
  );
  return parsed;
}

test('real DIDWW and Kazoo answers validate against /v3, /v2 and /v1 openapi.json', async () => {
  const account = await server.newAccount('dialects');
  await server.seed(account.account_id, 'cdr_in', 5);
  const didww = await getDocument('/v3/openapi.json');
  const jsonApi = { 'Api-Key': account.api_key, 'Content-Type': 'application/vnd.api+json' };
  const filters = { year: String(THIS_YEAR), month: String(THIS_MONTH).padStart(2, '0') };
  const created = await validAgainst(
    didww,
    'POST',
    '/v3/exports',
    await fetch(`${server.base}/v3/exports`, {
      method: 'POST',
      headers: jsonApi,
      body: JSON.stringify({ data: { type: 'exports', attributes: { export_type: 'cdr_in', filters } } }),
    }),
  );
  const id = created.data.id as string;
  const get = (url: string, headers: Record<string, string> = jsonApi) =>
    fetch(`${server.base}${url}`, { headers });
  await validAgainst(didww, 'GET', '/v3/exports/{id}', await get(`/v3/exports/${id}`));
  await validAgainst(didww, 'GET', '/v3/exports', await get('/v3/exports'));
  await validAgainst(
    didww,
    'GET',
    '/v3/exports/{id}',
    await get(`/v3/exports/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`),
  );
  await validAgainst(didww, 'GET', '/v3/exports', await get('/v3/exports', { 'Api-Key': 'wrong' }));
  const cdrExport = await validAgainst(
    didww,
    'POST',
    '/v3/cdr_exports',
    await fetch(`${server.base}/v3/cdr_exports`, {
      method: 'POST',
      headers: jsonApi,
      body: JSON.stringify({ data: { type: 'cdr_exports', attributes: { filters } } }),
    }),
  );
  await validAgainst(didww, 'GET', '/v3/cdr_exports/{id}', await get(`/v3/cdr_exports/${cdrExport.data.id}`));
  await validAgainst(didww, 'GET', '/v3/cdr_exports', await get('/v3/cdr_exports'));

  for (const version of ['v1', 'v2']) {
    const kazoo = await getDocument(`/${version}/openapi.json`);
    const auth = await validAgainst(
      kazoo,
      'PUT',
      `/${version}/api_auth`,
      await fetch(`${server.base}/${version}/api_auth`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: { api_key: account.api_key } }),
      }),
    );
    const token = { 'X-Auth-Token': auth.auth_token as string };
    const cdrs = `/${version}/accounts/{account_id}/cdrs`;
    const base = `/${version}/accounts/${account.account_id}/cdrs`;
    const list = await validAgainst(kazoo, 'GET', cdrs, await get(`${base}?page_size=2`, token));
    assert.ok(list.data.length >= 1, JSON.stringify(list));
    await validAgainst(kazoo, 'GET', `${cdrs}/{cdr_id}`, await get(`${base}/${list.data[0].id}`, token));
    await validAgainst(kazoo, 'GET', `${cdrs}/summary`, await get(`${base}/summary`, token));
    await validAgainst(kazoo, 'GET', `${cdrs}/interaction`, await get(`${base}/interaction`, token));
  }
});
