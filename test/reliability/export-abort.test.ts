// Promise: an export that is aborted (its lease lost, a slice failed) ends, even when one of its
// slices is still waiting on a connection that went silent before its COPY began. The watchdog
// cannot help there when it is set long (CDREX_COPY_STALL_MS); the abort itself must end the wait.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { writeExportFile } from '../../src/export/export-file.js';
import type { ExportRow } from '../../src/store/queries/exports.js';
import { createTestDatabase } from '../helpers/db.js';
import { MONTH_START, startServer } from '../helpers/server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const db = await createTestDatabase();
const server = await startServer(db, { worker: false });
const account = await server.newAccount('abort');
await server.seed(account.account_id, 'cdr_in', 2000, 5);

test('an aborted export ends although a slice waits on a silent connection', async () => {
  const proxy = await startTcpProxy(db.url);
  after(() => proxy.close());
  const direct = new pg.Client({ connectionString: db.url });
  const silent = new pg.Client({ connectionString: proxy.url });
  await direct.connect();
  await silent.connect();
  silent.on('error', () => {});
  after(() => direct.end().catch(() => {}));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-abort-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const exp = {
    id: '00000000-0000-4000-8000-000000000001',
    dialect: 'exports',
    export_type: 'cdr_in',
    account_id: account.account_id,
    range_from: MONTH_START,
    range_to: new Date(Date.UTC(MONTH_START.getUTCFullYear(), MONTH_START.getUTCMonth() + 1, 1)),
    did_number: null,
    voice_out_trunk_id: null,
  } as unknown as ExportRow;
  proxy.silence(); // the second slice's connection answers nothing from here on
  const abort = new AbortController();
  const writing = writeExportFile(
    [direct, silent] as unknown as pg.PoolClient[],
    exp,
    dir,
    path.join(dir, '.tmp-abort'),
    abort.signal,
    600_000, // the watchdog is out of the way: only the abort can end the silent slice
  );
  setTimeout(() => abort.abort(new Error('lease lost')), 200);
  const outcome = await Promise.race([
    writing.then(
      () => 'completed',
      () => 'aborted',
    ),
    new Promise((r) => setTimeout(() => r('still waiting'), 20_000).unref()),
  ]);
  assert.equal(outcome, 'aborted');
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith('.tmp-abort')),
    [],
    'no temp file is left',
  );
});
