// `cdrex trunks list --account ID`: the voice out trunk ids (and names) an account's outbound CDRs
// name, with call counts and first and last use, read under the account's row-level security:
// another account's trunks never show.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { newAccountIn, NOW, testEnv } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-trunks-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);

const newAccount = async (name: string) => (await newAccountIn(db, name)).account_id;
const carrier = await newAccount('Carrier');
const other = await newAccount('Other');

const TRUNK_A = '457bf47d-446d-41cd-91c3-dfbda7bf0753';
const TRUNK_B = '0b3f4a2e-6a43-4c44-9d1b-5e2f7c1a9e10';
const TRUNK_OTHER = 'c1d2e3f4-0000-4000-8000-000000000001';

/** Minutes before the test's clock, as a start time in this month (the file's clock is NOW). */
const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000);

async function outbound(
  account: string,
  callId: string,
  start: Date,
  trunk: string | null,
  name: string | null,
) {
  await db.pool.query(
    `insert into cdrs (account_id, kind, time_start, call_id, status, voice_out_trunk_id, trunk_name)
     values ($1, 'cdr_out', $2, $3, 'Success', $4, $5)`,
    [account, start, callId, trunk, name],
  );
}

await outbound(carrier, 'a1', at(50), TRUNK_A, 'carrier-a');
await outbound(carrier, 'a2', at(40), TRUNK_A, 'carrier-a-new');
await outbound(carrier, 'a3', at(30), TRUNK_A, null);
await outbound(carrier, 'b1', at(20), TRUNK_B, 'carrier-b');
await outbound(carrier, 'n1', at(45), null, 'sip-profile');
await outbound(other, 'o1', at(10), TRUNK_OTHER, 'someone-else');
// An inbound call is no trunk of the outbound kind.
await db.pool.query(
  `insert into cdrs (account_id, kind, time_start, call_id, status, trunk_name)
   values ($1, 'cdr_in', $2, 'i1', 'Success', 'voice-in')`,
  [carrier, at(5)],
);

function lines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('lists the trunk ids of the account, the most recently used first, with counts and names', async () => {
  const result = await cdrex(['trunks', 'list', '--account', carrier], env);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(lines(result.stdout), [
    {
      voice_out_trunk_id: TRUNK_B,
      names: ['carrier-b'],
      calls: 1,
      first_seen: at(20).toISOString(),
      last_seen: at(20).toISOString(),
    },
    {
      voice_out_trunk_id: TRUNK_A,
      names: ['carrier-a', 'carrier-a-new'],
      calls: 3,
      first_seen: at(50).toISOString(),
      last_seen: at(30).toISOString(),
    },
    {
      voice_out_trunk_id: null,
      names: ['sip-profile'],
      calls: 1,
      first_seen: at(45).toISOString(),
      last_seen: at(45).toISOString(),
    },
  ]);
});

test('another account sees its own trunks only; an account without outbound calls, none', async () => {
  const result = await cdrex(['trunks', 'list', '--account', other], env);
  assert.deepEqual(
    lines(result.stdout).map((l) => l.voice_out_trunk_id),
    [TRUNK_OTHER],
  );
  const empty = await cdrex(['trunks', 'list', '--account', await newAccount('Quiet')], env);
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal(empty.stdout, '');
});

test('an unknown account is an error line (exit 1); a missing --account a usage error (exit 2)', async () => {
  const unknown = await cdrex(['trunks', 'list', '--account', 'f'.repeat(32)], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No account has the id f{32}/);
  const missing = await cdrex(['trunks', 'list'], env);
  assert.equal(missing.code, 2);
  const help = await cdrex(['trunks', '--help'], env);
  assert.equal(help.code, 0);
  assert.ok(help.stdout.startsWith('cdrex trunks list'), help.stdout);
  assert.ok(help.stdout.includes('voice_out_trunk.id'), help.stdout);
});
