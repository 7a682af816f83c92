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

test('reserved, benchmarking, multicast and broadcast space is refused (issue 11)', () => {
  for (const a of [
    '192.0.0.1',
    '192.0.0.170', // NAT64 discovery
    '198.18.0.1',
    '198.19.255.254',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    'ff02::1',
    'fec0::1',
    '100::1',
    '64:ff9b:1::a00:1',
  ]) {
    assert.equal(isRefusedAddress(a), true, a);
  }
  for (const a of ['192.0.1.1', '198.17.255.255', '198.20.0.1', '223.255.255.255', '2606:4700::1111'])
    assert.equal(isRefusedAddress(a), false, a);
});

test('an internal IPv4 address embedded in IPv6 is refused, however it is written', () => {
  for (const a of [
    '::127.0.0.1', // IPv4-compatible
    '::7f00:1',
    '::10.0.0.1',
    '0:0:0:0:0:ffff:127.0.0.1', // IPv4-mapped, long form
    '::ffff:a9fe:a9fe', // 169.254.169.254, hex
    '::ffff:0:7f00:1', // IPv4-translated
    '64:ff9b::127.0.0.1', // NAT64
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::', // 6to4 of 127.0.0.1
    '2002:a00:1::1', // 6to4 of 10.0.0.1
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo, client 127.0.0.1 (obfuscated)
    '2001:0:a00:1::1', // Teredo, server 10.0.0.1
    '[::ffff:127.0.0.1]',
  ]) {
    assert.equal(isRefusedAddress(a), true, a);
  }
  // The same embeddings of a public address are fine.
  for (const a of [
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
    '::ffff:0:808:808',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  ])
    assert.equal(isRefusedAddress(a), false, a);
});

test('every spelling of an IPv4 address is judged as the address it means', () => {
  // What the WHATWG URL parser turns them into; isRefusedAddress reads them the same way.
  for (const a of [
    '2130706433',
    '0x7f.1',
    '0x7f000001',
    '017700000001',
    '0177.0.0.1',
    '127.1',
    '0',
    '4294967295',
  ])
    assert.equal(isRefusedAddress(a), true, a);
  assert.equal(isRefusedAddress('134744072'), false, '8.8.8.8 as one number');
  assert.equal(isRefusedAddress('example.com'), false);
  for (const url of [
    'http://2130706433/',
    'http://0x7f.1/',
    'http://017700000001/',
    'http://127.1:8080/',
    'http://[::127.0.0.1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[64:ff9b::10.0.0.1]/',
    'http://[2002:c0a8:101::]/',
    'http://4294967295/',
    'http://%31%32%37.0.0.1/',
    'http://198.18.0.1/',
    'http://[ff02::1]/',
  ]) {
    assert.equal(callbackUrlProblems(url, []), 'is invalid', url);
  }
  assert.equal(callbackUrlProblems('http://[2606:4700::1111]/cb', []), undefined);
});

test('callback URLs need an absolute http(s) URL and no internal IP literal', () => {
  assert.equal(callbackUrlProblems('https://example.com/cb', []), undefined);
  assert.equal(callbackUrlProblems('example.com/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('ftp://example.com/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://10.0.0.8/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://[::1]:9000/cb', []), 'is invalid');
  assert.equal(callbackUrlProblems('http://127.0.0.1:9000/cb', ['127.0.0.1']), undefined);
});
