// Promise: next_start_key is a client-visible token; renaming the keyset's fields in code (issue 18)
// must not change it. A key issued before still decodes to the same place.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeKey, encodeKey } from '../../src/search/cdr-search-service.js';

const key = { timeStart: '2026-03-01T10:00:00.123456Z', callId: 'call-1', attempt: 2, kind: 'cdr_out' };
// base64url of ["2026-03-01T10:00:00.123456Z","call-1",2,"cdr_out"], as cdrex has always issued it.
const issued = Buffer.from('["2026-03-01T10:00:00.123456Z","call-1",2,"cdr_out"]').toString('base64url');

test('next_start_key keeps its wire form: base64url of [time, call id, attempt, kind]', () => {
  assert.equal(encodeKey(key), issued);
  assert.deepEqual(decodeKey(issued), key);
});
