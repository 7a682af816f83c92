// The Kazoo envelope's bytes are written piece by piece into one Buffer (src/api/kazoo/envelope.ts):
// every piece must land whole, in order, however many bytes its characters take.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { concatUtf8 } from '../../src/api/kazoo/envelope.js';

test('pieces of one-, two-, three- and four-byte characters come out as their joined UTF-8', () => {
  const pieces = [
    '{"data":[',
    '{"caller_id_name":"José"}',
    ',',
    '{"n":"李小龍 ☎"}',
    ',',
    '{"e":"🦄\\u0000"}',
    '],',
    '"x":""}',
  ];
  const bytes = concatUtf8(pieces);
  assert.deepEqual(bytes, Buffer.from(pieces.join(''), 'utf8'));
  assert.deepEqual(JSON.parse(bytes.toString('utf8')).data[1], { n: '李小龍 ☎' });
});

test('empty pieces and no pieces', () => {
  assert.equal(concatUtf8([]).length, 0);
  assert.deepEqual(concatUtf8(['', 'a', '', 'é', '']), Buffer.from('aé'));
});

test('a lone surrogate is written as the replacement character, as Buffer.from writes it', () => {
  const pieces = ['"\ud83e', '"'];
  assert.deepEqual(concatUtf8(pieces), Buffer.from(pieces.join('')));
});
