// A Kazoo text field is kept to 512 UTF-16 units, cut at a character's boundary: a name whose
// 512th unit is the first half of an emoji loses the emoji whole, not half of it (which
// PostgreSQL would store as U+FFFD, a character the sender never sent).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { kazooDocToRecord } from '../../src/ingest/kazoo.js';

const doc = (name: string) => ({
  call_id: 'text-cut',
  timestamp: Math.floor(Date.now() / 1000) - 3600 + GREGORIAN_OFFSET,
  caller_id_name: name,
});

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function storedName(name: string): string {
  const record = kazooDocToRecord(doc(name));
  assert.equal(typeof record, 'object', String(record));
  return (record as { source_name: string }).source_name;
}

test('a name cut at 512 units never keeps half of a character', () => {
  const a = 'a'.repeat(511);
  assert.equal(storedName(`${a}😀${'b'.repeat(10)}`), a);
  assert.equal(storedName(`${'a'.repeat(510)}😀${'b'.repeat(10)}`), `${'a'.repeat(510)}😀`);
  assert.equal(storedName(`${'a'.repeat(512)}😀`), 'a'.repeat(512));
  assert.equal(storedName(`€${'é'.repeat(600)}`), `€${'é'.repeat(511)}`);
  for (const name of [`${a}😀`, `${'😀'.repeat(300)}`]) assert.doesNotMatch(storedName(name), LONE_SURROGATE);
});
