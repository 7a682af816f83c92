// The catalog-race retry that migrations and role creation share (src/store/retry.ts), driven
// with the errors PostgreSQL raises: which ones are run again, how often, and what is thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCatalogRace, retrying } from '../../src/store/retry.js';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
const TUPLE_RACE = pgError('XX000', 'tuple concurrently updated');
const noPause = { pauseMs: () => 0 };

/** A function that fails with `errors` in turn, then answers `value`; counts its calls. */
function failing<T>(errors: Error[], value: T) {
  const fn = async () => {
    fn.calls++;
    const err = errors[fn.calls - 1];
    if (err) throw err;
    return value;
  };
  fn.calls = 0;
  return fn;
}

test('a catalog race is run again until it succeeds', async () => {
  const fn = failing(
    [
      TUPLE_RACE,
      pgError('42710', 'role "cdrex_app" already exists'),
      // A worker node's duplicate, as Citus relays it.
      pgError('XX000', 'duplicate key value violates unique constraint "pg_authid_rolname_index"'),
      TUPLE_RACE,
    ],
    'done',
  );
  assert.equal(await retrying(fn, isCatalogRace, noPause), 'done');
  assert.equal(fn.calls, 5);
});

test('five attempts in all, then the race itself is thrown', async () => {
  const fn = failing(Array(10).fill(TUPLE_RACE), 'never');
  await assert.rejects(retrying(fn, isCatalogRace, noPause), TUPLE_RACE);
  assert.equal(fn.calls, 5);
});

test('any other error is thrown at once, an internal one included', async () => {
  for (const err of [
    pgError('42P01', 'relation "cdrs" does not exist'),
    pgError('XX000', 'cache lookup failed for relation 16384'),
    new Error('Connection terminated unexpectedly'),
  ]) {
    const fn = failing([err], 'never');
    await assert.rejects(retrying(fn, isCatalogRace, noPause), err);
    assert.equal(fn.calls, 1, err.message);
  }
});
