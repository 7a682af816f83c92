import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendQuery, normalizeUrl, signCallback, signString } from '../../src/callbacks/signature.js';

const CALLBACK_PARAMS = { id: '1dd7a68b-e235-402b-8912-fe73ee14243a', status: 'completed', type: 'orders' };

test('vector 1: the signed string itself', () => {
  const signed =
    'https://mycompany.com:443/didww_callbacks?opaque=123idbf2cee72-6caa-4ae2-917e-bea01945691estatuscompletedtypeorders';
  assert.equal(
    signString('szrdgh6547umt7tht7xbqhj6g9gdbyp7', signed),
    '30f66e9d72eb5e193051fd02952f70d8e934b4ff',
  );
  // …and the same string is what normalising the URL and appending the sorted params produces.
  const params = { type: 'orders', status: 'completed', id: 'bf2cee72-6caa-4ae2-917e-bea01945691e' };
  assert.equal(
    signCallback(
      'szrdgh6547umt7tht7xbqhj6g9gdbyp7',
      'https://mycompany.com/didww_callbacks?opaque=123',
      params,
    ),
    '30f66e9d72eb5e193051fd02952f70d8e934b4ff',
  );
});

test('vector 2: plain URL, default port written', () => {
  assert.equal(
    signCallback('SOMEAPIKEY', 'http://example.com/callbacks', CALLBACK_PARAMS),
    'fe99e416c3547f2f59002403ec856ea386d05b2f',
  );
});

test('vector 3: query and fragment are signed', () => {
  assert.equal(
    signCallback('OTHERAPIKEY', 'http://example.com/callbacks?foo=bar#baz', CALLBACK_PARAMS),
    '32754ba93ac1207e540c0cf90371e7786b3b1cde',
  );
});

test('vector 4: GET URL with the params in its query, empty value included', () => {
  const params = {
    id: '7ae7c48f-d48a-499f-9dc1-c9217014b457',
    reject_reason: '',
    status: 'approved',
    type: 'address_verifications',
  };
  const url =
    'http://example.com/callback.php?id=7ae7c48f-d48a-499f-9dc1-c9217014b457&reject_reason=&status=approved&type=address_verifications';
  assert.equal(signCallback('SOMEAPIKEY', url, params), '18050028b6b22d0ed516706fba1c1af8d6a8f9d5');
});

test('normalizeUrl writes the port, keeps user info, and assumes http without a scheme', () => {
  assert.equal(normalizeUrl('https://u:p@example.com/x?a=1#f'), 'https://u:p@example.com:443/x?a=1#f');
  assert.equal(normalizeUrl('example.com:8080/cb'), 'http://example.com:8080/cb');
  assert.equal(normalizeUrl('http://example.com'), 'http://example.com:80/');
});

test('appendQuery adds params before the fragment, after any existing query', () => {
  assert.equal(
    appendQuery('http://h/cb?foo=bar#frag', { id: '1', type: 'exports' }),
    'http://h/cb?foo=bar&id=1&type=exports#frag',
  );
  assert.equal(appendQuery('http://h/cb', { id: '1' }), 'http://h/cb?id=1');
});
