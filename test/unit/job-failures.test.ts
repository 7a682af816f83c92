// How the worker sorts a failed job (docs/decisions.md, "Lost connections, export retries, silent
// partitions"): a lost connection gives the job back, a transient failure waits and retries for
// the task's period, anything else counts as an attempt.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionLostError } from '../../src/errors.js';
import { failureKind } from '../../src/jobs/worker.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('lost connections: terminated backends, dropped sockets, watchdogs', () => {
  assert.equal(failureKind(withCode('57P01', 'terminating connection due to administrator command')), 'lost');
  assert.equal(failureKind(withCode('08006')), 'lost');
  assert.equal(failureKind(withCode('ECONNRESET')), 'lost');
  assert.equal(failureKind(new Error('Connection terminated unexpectedly')), 'lost');
  assert.equal(failureKind(new ConnectionLostError('no data from the database for 60000 ms')), 'lost');
});

test('transient: a full or failing disk, a statement timeout', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'EIO', 'ESTALE', '57014'])
    assert.equal(failureKind(withCode(code)), 'transient');
});

test('anything else counts as an attempt', () => {
  assert.equal(failureKind(new Error('a bug')), 'other');
  assert.equal(failureKind(withCode('23505')), 'other');
  assert.equal(failureKind(withCode('ENOENT')), 'other');
  assert.equal(failureKind(withCode('EACCES')), 'other');
});
