// `cdrex db dump --out FILE` and `cdrex db restore FILE` (docs/operations.md, "Backups"): the
// store's connection as its owner, progress, and the one summary line; the work is in
// src/store/backup.ts.
import fs from 'node:fs';
import path from 'node:path';
import { parseFlags } from './flags.js';
import { decryptSecret, loadMasterKey } from '../accounts/secrets.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { BackupError, DumpFileError, dumpStore, restoreStore, sampleKeyCiphertext } from '../store/backup.js';
import { createPool, openStore } from '../store/db.js';
import { attachEmbedded } from '../store/embedded.js';
import { releaseClient } from '../store/transaction.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, progress, UsageError } from './output.js';
import { requireExistingStore } from './store-check.js';

/** A progress line per table on a terminal: "dump cdrs: 1,234,567 (…rows/s)". */
function tableProgress(verb: string) {
  let current: { table: string; bar: ReturnType<typeof progress> } | undefined;
  return (table: string, rows: number, done: boolean) => {
    if (current?.table !== table) current = { table, bar: progress(`${verb} ${table}`) };
    if (!done) return current.bar.update(rows);
    // The bar redraws at most five times a second; the table's last line carries its full count.
    if (process.stderr.isTTY)
      process.stderr.write(`\r${verb} ${table}: ${rows.toLocaleString('en-US')} rows                \n`);
    current = undefined;
  };
}

/** What a refusal or a damaged file looks like on the command line: one error line, exit 1. */
function reported(err: unknown, file: string): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof BackupError || err instanceof DumpFileError || code === 'ENOENT' || code === 'EACCES') {
    printError({ error: (err as Error).message, file });
    return EXIT_DATA;
  }
  throw err;
}

export async function dumpCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values, positionals } = parseFlags(argv, { out: { type: 'string' } }, true);
  const out = values.out as string | undefined;
  if (!out || positionals.length > 0) throw new UsageError('Use `cdrex db dump --out FILE`.');
  const file = path.resolve(out);
  requireExistingStore(config); // a dump never makes an empty embedded store to dump
  // The owner's connection, without migrating or touching roles: a dump changes nothing.
  const embedded = config.databaseUrl ? undefined : await attachEmbedded(config.dataDir, log);
  const pool = createPool(config.databaseUrl ?? embedded!.url, log, {
    max: 1,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    tcpTimeoutMs: config.dbTcpTimeoutMs,
  });
  try {
    const client = await pool.connect();
    try {
      const result = await dumpStore(client, file, { onProgress: tableProgress('dump') });
      printSummary({ dumped: result.file, ...result, file: undefined });
      return EXIT_OK;
    } finally {
      releaseClient(client);
    }
  } catch (err) {
    return reported(err, file);
  } finally {
    await pool.end();
    await embedded?.release();
  }
}

/** Whether the master key this process has opens the restored store's key ciphertexts. */
function masterKeyState(
  config: Config,
  sealed: Buffer | undefined,
): 'same' | 'different' | 'absent' | 'no keys' {
  if (!sealed) return 'no keys';
  if (!config.masterKey && !fs.existsSync(path.join(config.dataDir, 'master.key'))) return 'absent';
  try {
    decryptSecret(loadMasterKey(config), sealed);
    return 'same';
  } catch {
    return 'different';
  }
}

export async function restoreCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { positionals } = parseFlags(argv, {}, true);
  if (positionals.length !== 1) throw new UsageError('Use `cdrex db restore FILE`.');
  const file = path.resolve(positionals[0]);
  if (!fs.existsSync(file))
    return reported(Object.assign(new Error(`No such file: ${file}`), { code: 'ENOENT' }), file);
  // Starts (or creates) the embedded cluster and the roles; migrating is restoreStore's.
  const store = await openStore(config, log, { migrate: false });
  const owner = createPool(store.urls.owner, log, { max: 2, connectTimeoutMs: config.dbConnectTimeoutMs });
  try {
    const result = await restoreStore(owner, file, { onProgress: tableProgress('restore') });
    const masterKey = masterKeyState(config, await sampleKeyCiphertext(owner));
    if (masterKey === 'different' || masterKey === 'absent')
      log.warn(
        { master_key: masterKey },
        'API keys sign in, but callbacks cannot be signed until CDREX_MASTER_KEY (or <data dir>/master.key) is the dumped store’s',
      );
    printSummary({ restored: result.file, ...result, file: undefined, master_key: masterKey });
    return EXIT_OK;
  } catch (err) {
    return reported(err, file);
  } finally {
    await owner.end();
    await store.close();
  }
}
