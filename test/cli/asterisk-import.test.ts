// `cdrex import --type asterisk`: Asterisk's cdr_csv Master.csv, run as a user runs it. The fixture
// is written as cdr_csv writes (every text cell quoted, numbers bare, an unset answer time empty);
// the 16- and 18-column variants are the same rows written with fewer optional columns.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import zlib from 'node:zlib';
import {
  asteriskRowToRecord,
  channelPeer,
  DEFAULT_INBOUND_CONTEXTS,
  directionOf,
  parseClid,
  wallTimeReader,
} from '../../src/ingest/asterisk.js';
import { cdrex, ROOT, summary, type CliResult } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { newAccountIn, testEnv } from '../helpers/server.js';

const db = await createTestDatabase();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-asterisk-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
const env = testEnv(db, dataDir);
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'asterisk-Master.csv');
const fixtureRows = parse(fs.readFileSync(FIXTURE)) as string[][];

/** One row as cdr_csv writes it, with its first `columns` cells. Bare cells: duration, billsec
 * and sequence (append_int), and empty times (append_date of an unset time). */
function cdrCsvLine(row: string[], columns: number): string {
  return row
    .slice(0, columns)
    .map((cell, i) => {
      const bare = i === 12 || i === 13 || (i === 20 && columns === 21) || (i >= 9 && i <= 11 && cell === '');
      return bare ? cell : `"${cell.replace(/"/g, '""')}"`;
    })
    .join(',');
}

function writeVariant(name: string, columns: number, rows = fixtureRows): string {
  const file = path.join(dataDir, name);
  fs.writeFileSync(file, `${rows.map((row) => cdrCsvLine(row, columns)).join('\n')}\n`);
  return file;
}

/** An account made in this process: the file's subject is `cdrex import`, not `accounts create`. */
const newAccount = async (name: string): Promise<string> => (await newAccountIn(db, name)).account_id;

function importAsterisk(account: string, args: string[]): Promise<CliResult> {
  return cdrex(['import', '--account', account, '--type', 'asterisk', ...args], env);
}

interface Row {
  kind: string;
  time_start: Date;
  time_connect: Date | null;
  time_end: Date | null;
  call_id: string;
  status: string;
  source_number: string | null;
  source_name: string | null;
  destination: string | null;
  did_number: string | null;
  duration_s: number;
  billing_s: number;
  hangup_cause: string | null;
  disconnect_code: string | null;
  trunk_name: string | null;
  interaction_id: string | null;
  source: string;
  imported: boolean;
  extra: Record<string, string>;
}

/** The account's rows by uniqueid as the fixture wrote it (the call id, or extra's when hashed). */
async function rowsOf(account: string): Promise<Map<string, Row>> {
  const { rows } = await db.pool.query<Row>('select * from cdrs where account_id = $1 order by time_start', [
    account,
  ]);
  return new Map(rows.map((r) => [r.extra.uniqueid ?? `${r.extra.channel} ${r.extra.start}`, r]));
}

const lastError = (r: CliResult) => JSON.parse(r.stderr.trim().split('\n').pop()!) as Record<string, unknown>;
const iso = (d: Date | null) => d?.toISOString() ?? null;

test('a 21-column Master.csv in Europe/Berlin: fields, directions, times in UTC, and again adds nothing', async () => {
  const account = await newAccount('pbx berlin');
  const first = await importAsterisk(account, ['--timezone', 'Europe/Berlin', FIXTURE]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(summary(first), { inserted: 7, duplicates: 0 });
  const rows = await rowsOf(account);
  assert.equal(rows.size, 7);

  // Inbound from a trunk, answered; the caller's name holds a comma inside cdr_csv's quotes.
  const answered = rows.get('1763280902.1')!;
  assert.equal(answered.kind, 'cdr_in');
  assert.equal(iso(answered.time_start), '2026-11-16T08:15:02.000Z'); // CET = UTC+1
  assert.equal(iso(answered.time_connect), '2026-11-16T08:15:07.000Z');
  assert.equal(iso(answered.time_end), '2026-11-16T08:18:29.000Z');
  assert.equal(answered.call_id, '1763280902.1');
  assert.equal(answered.status, 'Success');
  assert.equal(answered.source_number, '+4930123456');
  assert.equal(answered.source_name, 'Müller, Hans');
  assert.equal(answered.destination, '4989555100');
  assert.equal(answered.did_number, '4989555100');
  assert.equal(answered.duration_s, 207);
  assert.equal(answered.billing_s, 202);
  assert.equal(answered.hangup_cause, 'NORMAL_CLEARING');
  assert.equal(answered.disconnect_code, '16');
  assert.equal(answered.trunk_name, 'carrier');
  assert.equal(answered.source, 'asterisk');
  assert.equal(answered.imported, true);
  assert.equal(answered.extra.channel, 'PJSIP/carrier-00000001');
  assert.equal(answered.extra.dstchannel, 'PJSIP/100-00000002');
  assert.equal(answered.extra.clid, '"Müller, Hans" <+4930123456>');
  assert.equal(answered.extra.lastdata, 'PJSIP/100,30,tT');

  // Outbound from an extension: no DID, the trunk is the dialled channel's peer.
  const outbound = rows.get('1763283731.3')!;
  assert.equal(outbound.kind, 'cdr_out');
  assert.equal(outbound.did_number, null);
  assert.equal(outbound.trunk_name, 'carrier');
  assert.equal(outbound.source_name, 'Reception');
  assert.equal(outbound.source_number, '100');
  assert.equal(outbound.extra.userfield, 'campaign=Q4');
  assert.equal(outbound.extra.accountcode, 'sales');

  // A transfer: two CDRs of different channels, one interaction through their linkedid.
  const [legA, legB] = [rows.get('1763287200.5')!, rows.get('1763287280.7')!];
  assert.notEqual(legA.call_id, legB.call_id);
  assert.equal(legA.interaction_id, '1763287200.5');
  assert.equal(legB.interaction_id, '1763287200.5');
  assert.deepEqual([legA.kind, legB.kind], ['cdr_in', 'cdr_out']);

  // Unanswered calls: an empty answer time, nothing billed, a cause from the disposition.
  const noAnswer = rows.get('1763292600.10')!;
  assert.equal(noAnswer.time_connect, null);
  assert.equal(noAnswer.status, 'Failed');
  assert.equal(noAnswer.billing_s, 0);
  assert.equal(noAnswer.hangup_cause, 'NO_ANSWER');
  assert.equal(noAnswer.disconnect_code, '19');
  assert.equal(noAnswer.source_name, null);
  assert.equal(noAnswer.source_number, '+4940111222');
  assert.equal(noAnswer.trunk_name, 'pstn-gw');
  const busy = rows.get('1763297110.12')!;
  assert.equal(busy.hangup_cause, 'USER_BUSY');
  assert.equal(busy.status, 'Failed');
  assert.equal(busy.kind, 'cdr_out');

  // Summer time: CEST = UTC+2; from-external is inbound too.
  const failed = rows.get('1784008800.20')!;
  assert.equal(iso(failed.time_start), '2026-07-14T06:00:00.000Z');
  assert.equal(failed.kind, 'cdr_in');
  assert.equal(failed.hangup_cause, 'NORMAL_TEMPORARY_FAILURE');
  assert.equal(failed.trunk_name, 'provider2');

  const again = await importAsterisk(account, ['--timezone', 'Europe/Berlin', FIXTURE]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(summary(again), { inserted: 0, duplicates: 7 });
  assert.equal((await rowsOf(account)).size, 7);
});

test('16 columns (no uniqueid): times read as UTC by default, call ids hashed as documented, idempotent', async () => {
  const account = await newAccount('pbx 16');
  const file = writeVariant('sixteen.csv', 16);
  const result = await importAsterisk(account, [file]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(summary(result), { inserted: 7, duplicates: 0 });
  const { rows } = await db.pool.query<Row>('select * from cdrs where account_id = $1', [account]);
  assert.equal(rows.length, 7);
  for (const row of rows) {
    const { channel, start, src, dst } = row.extra;
    const digest = createHash('sha256').update([channel, start, src, dst].join('\x1f')).digest('hex');
    assert.equal(row.call_id, `ast-${digest.slice(0, 32)}`);
    assert.equal(row.interaction_id, row.call_id);
    assert.equal(row.extra.uniqueid, undefined);
    // No --timezone: the written time is UTC.
    assert.equal(iso(row.time_start), `${start.replace(' ', 'T')}.000Z`);
  }
  // Again, gzipped on stdin: the same ids, nothing new.
  const again = await cdrex(
    ['import', '--account', account, '--type', 'asterisk', '-'],
    env,
    zlib.gzipSync(fs.readFileSync(file)),
  );
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(summary(again), { inserted: 0, duplicates: 7 });
});

test('18 columns: uniqueid is the call id, userfield kept; --direction and --inbound-contexts decide the kind', async () => {
  const file = writeVariant('eighteen.csv', 18);
  const plain = await newAccount('pbx 18');
  const result = await importAsterisk(plain, [file]);
  assert.deepEqual(summary(result), { inserted: 7, duplicates: 0 });
  const rows = await rowsOf(plain);
  assert.equal(rows.get('1763283731.3')!.call_id, '1763283731.3');
  assert.equal(rows.get('1763283731.3')!.extra.userfield, 'campaign=Q4');
  assert.equal(rows.get('1763287280.7')!.interaction_id, '1763287280.7'); // no linkedid column

  const forced = await newAccount('all outbound');
  assert.equal((await importAsterisk(forced, ['--direction', 'outbound', file])).code, 0);
  const kinds = await db.pool.query('select distinct kind from cdrs where account_id = $1', [forced]);
  assert.deepEqual(
    kinds.rows.map((r) => r.kind),
    ['cdr_out'],
  );

  const flipped = await newAccount('own contexts');
  const custom = await importAsterisk(flipped, ['--inbound-contexts', 'from-internal,ext-*', file]);
  assert.equal(custom.code, 0, custom.stderr);
  const byId = await rowsOf(flipped);
  assert.equal(byId.get('1763280902.1')!.kind, 'cdr_out'); // from-trunk, no longer listed
  assert.equal(byId.get('1763283731.3')!.kind, 'cdr_in'); // from-internal
});

test('a malformed line rejects its file with the line number; files before it stay imported', async () => {
  const account = await newAccount('strict pbx');
  const good = writeVariant('good.csv', 18, fixtureRows.slice(0, 2));
  const text = fs.readFileSync(FIXTURE, 'utf8').trim().split('\n');

  // Line 4 lost its last six cells (a truncated write): 15 columns.
  const short = text.map((line, i) => (i === 3 ? cdrCsvLine(fixtureRows[3], 15) : line));
  const shortFile = path.join(dataDir, 'short.csv');
  fs.writeFileSync(shortFile, `${short.join('\n')}\n`);
  const result = await importAsterisk(account, [good, shortFile]);
  assert.equal(result.code, 1);
  assert.deepEqual(summary(result), { inserted: 2, duplicates: 0 });
  const error = lastError(result);
  assert.equal(error.file, shortFile);
  assert.equal(error.line, 4);
  assert.match(String(error.error), /15 columns/);
  const stored = await db.pool.query('select count(*)::int as n from cdrs where account_id = $1', [account]);
  assert.equal(stored.rows[0].n, 2);

  // A quote left open on line 3, and a start time that is no time on line 5.
  const unclosed = text.map((line, i) => (i === 2 ? line.replace('"Dial"', '"Dial') : line));
  fs.writeFileSync(path.join(dataDir, 'unclosed.csv'), `${unclosed.join('\n')}\n`);
  const quote = await importAsterisk(account, [path.join(dataDir, 'unclosed.csv')]);
  assert.equal(quote.code, 1);
  assert.equal(lastError(quote).line, 3);
  const badTime = text.map((line, i) =>
    i === 4 ? line.replace('2026-11-16 12:30:00', '16/11/2026 12:30') : line,
  );
  fs.writeFileSync(path.join(dataDir, 'badtime.csv'), `${badTime.join('\n')}\n`);
  const time = await importAsterisk(account, [path.join(dataDir, 'badtime.csv')]);
  assert.equal(time.code, 1);
  assert.equal(lastError(time).line, 5);
  assert.match(String(lastError(time).error), /start/);
  // A time before CDREX_INGEST_FROM (2000-01-01) on line 6.
  const old = text.map((line, i) => (i === 5 ? line.replaceAll('2026-11-16', '1999-11-16') : line));
  fs.writeFileSync(path.join(dataDir, 'old.csv'), `${old.join('\n')}\n`);
  const early = await importAsterisk(account, [path.join(dataDir, 'old.csv')]);
  assert.equal(early.code, 1);
  assert.equal(lastError(early).line, 6);
  assert.match(String(lastError(early).error), /CDREX_INGEST_FROM/);
  const still = await db.pool.query('select count(*)::int as n from cdrs where account_id = $1', [account]);
  assert.equal(still.rows[0].n, 2);
});

test('an unknown zone or direction, or asterisk flags on another type, exit 2; an unknown account exits 1', async () => {
  const account = await newAccount('usage');
  const zone = await importAsterisk(account, ['--timezone', 'Mars/Olympus', FIXTURE]);
  assert.equal(zone.code, 2);
  assert.match(String(lastError(zone).error), /--timezone/);
  const unknown = await importAsterisk('0'.repeat(32), [FIXTURE]);
  assert.equal(unknown.code, 1);
  assert.match(String(lastError(unknown).error), /No account/);
  const direction = await importAsterisk(account, ['--direction', 'sideways', FIXTURE]);
  assert.equal(direction.code, 2);
  const misplaced = await cdrex(
    ['import', '--account', account, '--type', 'cdr_in', '--timezone', 'UTC', FIXTURE],
    env,
  );
  assert.equal(misplaced.code, 2);
  assert.match(String(lastError(misplaced).error), /--type asterisk/);
});

test('the documented rules: zones across daylight saving, contexts, clid, channel peers', () => {
  const berlin = wallTimeReader('Europe/Berlin');
  // 2026-10-25: 02:00-03:00 happens twice; the first (CEST, UTC+2) is taken.
  assert.equal(berlin('2026-10-25 02:30:00')?.toISOString(), '2026-10-25T00:30:00.000Z');
  assert.equal(berlin('2026-10-25 03:30:00')?.toISOString(), '2026-10-25T02:30:00.000Z');
  // 2026-03-29: 02:00-03:00 is skipped; read with the offset before the change (CET, UTC+1).
  assert.equal(berlin('2026-03-29 02:30:00')?.toISOString(), '2026-03-29T01:30:00.000Z');
  assert.equal(
    wallTimeReader('America/New_York')('2026-11-16 09:15:02')?.toISOString(),
    '2026-11-16T14:15:02.000Z',
  );
  assert.equal(berlin('2026-02-30 10:00:00'), undefined);
  assert.equal(berlin('2026-11-16T09:15:02'), undefined);

  assert.equal(directionOf('from-trunk', DEFAULT_INBOUND_CONTEXTS), 'inbound');
  assert.equal(directionOf('from-internal', DEFAULT_INBOUND_CONTEXTS), 'outbound');
  assert.equal(directionOf('ext-did-0001', ['ext-*']), 'inbound');
  assert.equal(directionOf('ext', ['ext-*']), 'outbound');

  assert.deepEqual(parseClid('"Smith, Jo" <+12125550100>'), { name: 'Smith, Jo', number: '+12125550100' });
  assert.deepEqual(parseClid('Front Desk <200>'), { name: 'Front Desk', number: '200' });
  assert.deepEqual(parseClid('<+4940111222>'), { name: null, number: '+4940111222' });
  assert.deepEqual(parseClid('+4940111222'), { name: null, number: '+4940111222' });
  assert.deepEqual(parseClid('Anonymous'), { name: 'Anonymous', number: null });

  assert.equal(channelPeer('PJSIP/carrier-0000002a'), 'carrier');
  assert.equal(channelPeer('SIP/pstn-gw-0000000a'), 'pstn-gw');
  assert.equal(channelPeer('Local/100@from-internal-00000001;1'), null);
  assert.equal(channelPeer(''), null);
});

test('columns by count: 17 is uniqueid, 19 and 20 carry linkedid; CONGESTION and unknown dispositions', () => {
  const options = { inboundContexts: DEFAULT_INBOUND_CONTEXTS };
  const utc = wallTimeReader('UTC');
  const base = fixtureRows[3].slice(0, 16); // the transfer's second leg
  const [uniqueid, , , linkedid, sequence] = fixtureRows[3].slice(16);
  const record = (cells: string[]) => {
    const r = asteriskRowToRecord(cells, options, utc);
    assert.notEqual(typeof r, 'string', String(r));
    return r as Exclude<typeof r, string>;
  };
  assert.equal(record([...base, uniqueid]).call_id, uniqueid);
  const nineteen = record([...base, '', linkedid, sequence]);
  assert.match(nineteen.call_id, /^ast-[0-9a-f]{32}$/);
  assert.equal(nineteen.interaction_id, linkedid);
  const twenty = record([...base, uniqueid, '', linkedid, sequence]);
  assert.equal(twenty.call_id, uniqueid);
  assert.equal(twenty.interaction_id, linkedid);

  const congestion = record(base.map((c, i) => (i === 14 ? 'CONGESTION' : c)));
  assert.equal(congestion.hangup_cause, 'NORMAL_CIRCUIT_CONGESTION');
  assert.equal(congestion.disconnect_code, '34');
  const odd = record(base.map((c, i) => (i === 14 ? 'UNKNOWN' : c)));
  assert.equal(odd.hangup_cause, null);
  assert.equal(odd.disconnect_code, null);
  assert.match(String(asteriskRowToRecord(base.slice(0, 15), options, utc)), /15 columns/);
  assert.match(
    String(asteriskRowToRecord([...base, uniqueid, '', '', linkedid, sequence, 'x'], options, utc)),
    /22 columns/,
  );
  assert.match(
    String(
      asteriskRowToRecord(
        base.map((c, i) => (i === 13 ? '-3' : c)),
        options,
        utc,
      ),
    ),
    /billsec/,
  );
});
