// Promise (issue 18): one classify() decides status and kind for every dialect, whatever threw:
// cdrex's typed errors, Fastify's schema errors and status-carrying errors, PostgreSQL's
// SQLSTATEs. Anything else is a 500 whose own text is never the message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from '../../src/api/errors.js';
import {
  BadRequestError,
  ConnectionLostError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyRequestsError,
  ValidationError,
} from '../../src/errors.js';

const pgError = (code: string) => Object.assign(new Error('pg says no'), { code });

test('each error reads as its status and kind', () => {
  const cases: [unknown, number, string][] = [
    [new ValidationError([{ field: 'filters.year', title: "can't be blank" }]), 422, 'validation'],
    [new NotFoundError('No export x.'), 404, 'not_found'],
    [Object.assign(new Error('body/x must be string'), { validation: [{}], statusCode: 400 }), 400, 'schema'],
    [pgError('22P02'), 400, 'bad_input'],
    [pgError('57014'), 503, 'timeout'],
    [pgError('57P01'), 503, 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 503, 'unavailable'],
    [new BadRequestError('The body is not valid JSON.'), 400, 'client'],
    [new PayloadTooLargeError('too big'), 413, 'payload_too_large'],
    [Object.assign(new Error('Unsupported Media Type'), { statusCode: 415 }), 415, 'unsupported_media_type'],
    [new TooManyRequestsError('slow down'), 429, 'too_many_requests'],
    [new ConnectionLostError('lease renewal: no answer'), 500, 'internal'],
    [new Error('a bug'), 500, 'internal'],
    ['a string', 500, 'internal'],
    [undefined, 500, 'internal'],
  ];
  for (const [err, status, kind] of cases) {
    const c = classify(err);
    assert.deepEqual([c.status, c.kind], [status, kind], String((err as Error | undefined)?.message ?? err));
  }
});

test("a client error's message is its own; a bug's never is", () => {
  assert.equal(
    classify(new BadRequestError('The form has no cdr field.')).message,
    'The form has no cdr field.',
  );
  assert.equal(classify(new Error('secret internals')).message, 'Something went wrong on our side.');
  assert.equal(classify(pgError('22021')).message, 'A value in the request is not valid.');
});
