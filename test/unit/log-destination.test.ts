// The logs' stderr destination: a write that fails for good turns logging off, quietly, and the
// flush at exit returns instead of retrying forever (sonic-boom 4 retried every failed write of
// its exit flush, 100 ms apart, for ever: a serve whose terminal was gone never ended).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { StderrDestination } from '../../src/log-destination.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-log-destination-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('lines reach the descriptor in order', () => {
  const file = path.join(dir, 'log');
  const fd = fs.openSync(file, 'w');
  const destination = new StderrDestination(fd);
  destination.write('{"n":1}\n');
  destination.write('{"n":2}\n');
  destination.flushSync();
  fs.closeSync(fd);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n');
  assert.equal(destination.gone, false);
});

test('a descriptor that cannot be written (EBADF) turns logging off; flushSync returns', () => {
  const readOnly = fs.openSync(path.join(dir, 'log'), 'r');
  const destination = new StderrDestination(readOnly);
  assert.equal(destination.write('{"n":1}\n'), true, 'the logger is never told to wait');
  assert.equal(destination.gone, true);
  destination.write('{"n":2}\n');
  destination.flushSync();
  fs.closeSync(readOnly);
});

test('a pipe whose reader is gone (EPIPE) turns logging off', async () => {
  // A pipe from a child process: its read end closes when the child exits.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', ''], { stdio: ['pipe', 'ignore', 'ignore'] });
  const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  await new Promise((resolve) => child.on('exit', resolve));
  const destination = new StderrDestination(fd);
  destination.write('{"n":1}\n');
  assert.equal(destination.gone, true);
  destination.flushSync();
  child.stdin.destroy();
});
