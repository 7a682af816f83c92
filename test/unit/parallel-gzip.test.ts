import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { ParallelGzip } from '../../src/export/parallel-gzip.js';

async function compress(
  input: Buffer,
  options: ConstructorParameters<typeof ParallelGzip>[0],
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < input.length; i += 7919) yield input.subarray(i, i + 7919);
    })(),
  );
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  await pipeline(source, new ParallelGzip(options), sink);
  return Buffer.concat(chunks);
}

test('a multi-member gzip that gunzip reads whole, in order', async () => {
  const text = Buffer.from(
    Array.from(
      { length: 20000 },
      (_, i) =>
        `2026-11-01 00:00:${String(i % 60).padStart(2, '0')},row ${i},${randomBytes(4).toString('hex')}`,
    ).join('\n'),
  );
  const gz = await compress(text, { chunkSize: 16 * 1024, maxInFlight: 3 });
  // More than one member was written (each starts with the gzip magic).
  let members = 0;
  for (let i = 0; i < gz.length - 2; i++)
    if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8) members++;
  assert.ok(members > 1, `expected several members, found ${members}`);
  assert.deepEqual(zlib.gunzipSync(gz), text);
});

test('empty input gives an empty output that gunzip accepts', async () => {
  const gz = await compress(Buffer.alloc(0), {});
  assert.equal(zlib.gunzipSync(gz).length, 0);
});

test('input buffers are reused only once their member is done: writes larger than a buffer, many members in flight', async () => {
  // Random bytes barely compress, so every member's zlib work is as long as it can be, and a
  // buffer refilled before its member was done would corrupt an earlier member.
  const text = randomBytes(3 * 1024 * 1024 + 12345);
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  const pieces = [text.subarray(0, 100_000), text.subarray(100_000, 2_500_000), text.subarray(2_500_000)];
  await pipeline(Readable.from(pieces), new ParallelGzip({ chunkSize: 64 * 1024, maxInFlight: 4 }), sink);
  assert.deepEqual(zlib.gunzipSync(Buffer.concat(chunks)), text);
});
