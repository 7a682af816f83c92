import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRefusedAddress } from '../../src/callbacks/address-guard.js';
import { callbackUrlProblems } from '../../src/export/exports-service.js';

test('internal addresses are refused, public ones are not', () => {
  for (const a of [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fc00::1',
    'fd12::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
  ]) {
    assert.equal(isRefusedAddress(a), true, a);
  }
  for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8']) {
    assert.equal(isRefusedAddress(a), false, a);
  }
});

test('callback URLs need an absolute http(s) URL and no internal IP literal', () => {
  assert.equal(callbackUrlProblems('https://example.com/cb', []), undefined);
  assert.equal(callbackUrlProblems('example.com/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('ftp://example.com/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://10.0.0.8/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://[::1]:9000/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://127.0.0.1:9000/cb', ['127.0.0.1']), undefined);
});
