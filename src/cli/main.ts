// The `cdrex` command line. It parses flags and calls the same functions the server uses; it holds
// no business logic.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { loadMasterKey } from '../accounts/secrets.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { DataError, NotFoundError } from '../errors.js';
import {
  DEFAULT_INBOUND_CONTEXTS,
  importAsteriskCsv,
  isTimeZone,
  type Direction,
} from '../ingest/asterisk.js';
import { importDidwwCsv } from '../ingest/didww-csv.js';
import { kazooDocToRecord } from '../ingest/kazoo.js';
import { replayFreeswitchFiles } from '../ingest/freeswitch-replay.js';
import { loadRecords } from '../ingest/records.js';
import { uploadRecords } from '../ingest/upload-body.js';
import { generateCsv, generationSpan } from '../ingest/generate.js';
import { ingestWindow } from '../ingest/window.js';
import { createLogger, type Logger } from '../log.js';
import { distribute, NotCitusError } from '../store/citus.js';
import { createPool, openStore } from '../store/db.js';
import {
  destroyEmbedded,
  destroyOrphanClusters,
  startEmbedded,
  statusEmbedded,
  stopEmbedded,
} from '../store/embedded.js';
import { rolesSql } from '../store/roles.js';
import {
  accountExists,
  createAccount,
  createCallbackSecret,
  deleteCallbackSecret,
  enableCallbackSecret,
  listCallbackSecrets,
  rotateApiKey,
} from '../store/queries/accounts.js';
import { ExportNotFailedError, retryFailedExport } from '../store/queries/exports.js';
import { listAccounts } from '../store/queries/account-list.js';
import { listTrunks } from '../store/queries/trunks.js';
import { recordAudit } from '../store/queries/audit.js';
import { CDR_KINDS, type CdrKind } from '../store/queries/cdrs.js';
import { dumpCommand, restoreCommand } from './db-backup.js';
import { cdrsCommand, maskCommand } from '../lifecycle/commands.js';
import { type FlagOptions, type Flags, parseFlags, type WithWorker } from './flags.js';
import { adminCommand, auditCommand } from '../admin/commands.js';
import { COMMANDS, USAGE } from './help.js';
import { openInput, type WatchedInput } from './input.js';
import { wrongTypeMessage } from './sniff.js';
import { requireExistingStore } from './store-check.js';
import { releaseHungUpTerminalsAtExit } from './terminal.js';
import { EXIT_DATA, EXIT_OK, EXIT_USAGE, printError, printSummary, progress, UsageError } from './output.js';

/** Every command takes --help (-h) and positional arguments. */
function parse(argv: string[], options: FlagOptions): { values: Flags; positionals: string[] } {
  return parseFlags(argv, { ...options, help: { type: 'boolean', short: 'h' } }, true);
}

function required(values: Flags, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required.`);
  return v;
}

function cdrKind(value: string): CdrKind {
  if (!CDR_KINDS.includes(value as CdrKind))
    throw new UsageError(`--type must be cdr_in or cdr_out, not "${value}".`);
  return value as CdrKind;
}

function accountId(value: string): string {
  if (!/^[0-9a-f]{32}$/.test(value))
    throw new UsageError('--account must be an account id: 32 lowercase hex characters.');
  return value;
}

async function withStore<T>(
  config: Config,
  log: Logger,
  fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
  options: { create?: boolean } = {},
) {
  if (!options.create) requireExistingStore(config);
  const store = await openStore(config, log);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The store's worker pool for the lifecycle commands (src/lifecycle/commands.ts). */
const workerOf =
  (config: Config, log: Logger): WithWorker =>
  (fn) =>
    withStore(config, log, ({ worker }) => fn(worker));

async function importCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values, positionals } = parse(argv, {
    account: { type: 'string' },
    type: { type: 'string' },
    'voice-out-trunk-id': { type: 'string' },
    direction: { type: 'string' },
    timezone: { type: 'string' },
    'inbound-contexts': { type: 'string' },
    'move-done': { type: 'string' },
    'move-failed': { type: 'string' },
  });
  if (values.help) return help('import');
  const account = accountId(required(values, 'account'));
  if (values.type === 'kazoo') return importKazoo(account, positionals, config, log);
  if (values.type === 'asterisk') return importAsterisk(account, positionals, values, config, log);
  if (['direction', 'timezone', 'inbound-contexts'].some((f) => values[f] !== undefined))
    throw new UsageError('--direction, --timezone and --inbound-contexts are for --type asterisk.');
  if (values.type === 'freeswitch') return importFreeswitch(account, positionals, values, config, log);
  if (values['move-done'] !== undefined || values['move-failed'] !== undefined)
    throw new UsageError('--move-done and --move-failed are for --type freeswitch.');
  const kind = cdrKind(required(values, 'type'));
  const trunk = values['voice-out-trunk-id'] as string | undefined;
  if (trunk !== undefined && !/^[0-9a-f-]{36}$/i.test(trunk))
    throw new UsageError('--voice-out-trunk-id must be a UUID.');
  if (positionals.length === 0) throw new UsageError('Name at least one FILE to import (- for stdin).');
  const totals = { inserted: 0, duplicates: 0 };
  return withStore(config, log, async ({ worker: pool }) => {
    for (const file of positionals) {
      let input: WatchedInput | undefined;
      const bar = progress(`import ${file}`);
      try {
        const open = async () => {
          input = await openInput(file);
          input.onLines = (lines) => bar.update(lines - 1); // the header is no row
          return input;
        };
        const first = await open();
        // A regular file can be read twice (the direct path first); stdin, a pipe or a FIFO
        // (`<(zcat …)`) cannot: read again, it would be empty or wait for a writer.
        const rereadable = file !== '-' && (await fs.promises.stat(file)).isFile();
        const result = await importDidwwCsv(pool, first, {
          accountId: account,
          kind,
          voiceOutTrunkId: trunk,
          fileName: file,
          window: ingestWindow(config),
          reopen: rereadable ? open : undefined,
        });
        bar.end();
        totals.inserted += result.inserted;
        totals.duplicates += result.duplicates;
      } catch (err) {
        bar.end();
        printSummary(totals);
        if (err instanceof DataError) {
          // The header is checked first: line 1 failing means another layout, or none.
          const wrongType = err.line === 1 && wrongTypeMessage(kind, input?.firstLine ?? '', account, file);
          printError({ error: wrongType || err.message, file, line: err.line });
          return EXIT_DATA;
        }
        const code = (err as NodeJS.ErrnoException).code;
        if (
          err instanceof NotFoundError ||
          code === 'ENOENT' ||
          code === 'EACCES' ||
          code === 'Z_DATA_ERROR'
        ) {
          printError({ error: (err as Error).message, file });
          return EXIT_DATA;
        }
        throw err;
      }
    }
    printSummary(totals);
    return EXIT_OK;
  });
}

/** Asterisk cdr_csv files (Master.csv), each stored whole or not at all, in order. */
async function importAsterisk(
  account: string,
  files: string[],
  values: Flags,
  config: Config,
  log: Logger,
): Promise<number> {
  if (files.length === 0) throw new UsageError('Name at least one FILE to import (- for stdin).');
  const direction = values.direction as Direction | undefined;
  if (direction !== undefined && direction !== 'inbound' && direction !== 'outbound')
    throw new UsageError('--direction must be inbound or outbound.');
  const timeZone = (values.timezone as string | undefined) ?? 'UTC';
  if (!isTimeZone(timeZone))
    throw new UsageError(`--timezone "${timeZone}" is not an IANA time zone (such as Europe/Berlin).`);
  const listed = (values['inbound-contexts'] as string | undefined)?.split(',').map((c) => c.trim());
  const inboundContexts = listed?.filter((c) => c !== '') ?? DEFAULT_INBOUND_CONTEXTS;
  const totals = { inserted: 0, duplicates: 0 };
  return withStore(config, log, async ({ worker: pool }) => {
    for (const file of files) {
      let input: WatchedInput | undefined;
      const bar = progress(`import ${file}`);
      try {
        input = await openInput(file);
        input.onLines = (lines) => bar.update(lines); // Master.csv has no header
        const result = await importAsteriskCsv(pool, input, {
          accountId: account,
          direction,
          inboundContexts,
          timeZone,
          window: ingestWindow(config),
          dataDir: config.dataDir,
        });
        bar.end();
        totals.inserted += result.inserted;
        totals.duplicates += result.duplicates;
      } catch (err) {
        bar.end();
        const code = (err as NodeJS.ErrnoException).code;
        const known = err instanceof DataError || err instanceof NotFoundError;
        if (!known && code !== 'ENOENT' && code !== 'EACCES' && code !== 'Z_DATA_ERROR') throw err;
        printSummary(totals);
        const line = err instanceof DataError ? err.line : undefined;
        const wrongType = line === 1 && wrongTypeMessage('asterisk', input?.firstLine ?? '', account, file);
        printError({ error: wrongType || (err as Error).message, file, line });
        return EXIT_DATA;
      }
    }
    printSummary(totals);
    return EXIT_OK;
  });
}

/** Kazoo-format files: JSON ({"data":[…]} or one object), NDJSON/JSONL, or CSV, by extension. */
async function importKazoo(account: string, files: string[], config: Config, log: Logger): Promise<number> {
  if (files.length === 0) throw new UsageError('Name at least one FILE to import (- for stdin).');
  const totals = { inserted: 0, duplicates: 0 };
  return withStore(config, log, async ({ worker: pool }) => {
    for (const file of files) {
      const name = file.replace(/\.gz$/, '');
      const type = name.endsWith('.csv')
        ? 'text/csv'
        : /\.(nd)?jsonl?$/.test(name) && !name.endsWith('.json')
          ? 'application/x-ndjson'
          : 'application/json';
      const input = await openInput(file);
      let body: unknown = input;
      if (type === 'application/json') {
        const chunks: Buffer[] = [];
        for await (const c of input) chunks.push(c as Buffer);
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          printSummary(totals);
          printError({ error: 'The file is not valid JSON.', file });
          return EXIT_DATA;
        }
      }
      const result = await loadRecords(
        pool,
        uploadRecords(type, body, Number.MAX_SAFE_INTEGER),
        kazooDocToRecord,
        {
          accountId: account,
          source: 'import',
          imported: true,
          partial: false,
          // No maxNewMonths: the operator's imports may fill any number of months (decisions.md).
          window: ingestWindow(config),
          dataDir: config.dataDir,
        },
      );
      if (!result.stored) {
        printSummary(totals);
        const first = result.rejected[0];
        const wrongType = first.index === 0 && wrongTypeMessage('kazoo', input.firstLine, account, file);
        printError({
          error: wrongType || `record ${first.index}: ${first.reason}`,
          file,
          line: first.index + 1,
        });
        return EXIT_DATA;
      }
      totals.inserted += result.inserted;
      totals.duplicates += result.duplicates;
    }
    printSummary(totals);
    return EXIT_OK;
  });
}

/** FreeSWITCH mod_json_cdr files (its err-log-dir after an outage): one JSON line per file, then
 * the totals; a bad file is reported and the run goes on, and the exit code says whether any
 * failed. */
async function importFreeswitch(
  account: string,
  paths: string[],
  values: Flags,
  config: Config,
  log: Logger,
): Promise<number> {
  if (paths.length === 0) throw new UsageError('Name at least one FILE or DIRECTORY of mod_json_cdr files.');
  const moveDone = values['move-done'] as string | undefined;
  const moveFailed = values['move-failed'] as string | undefined;
  if (moveDone === '' || moveFailed === '') throw new UsageError('--move-done and --move-failed need a DIR.');
  const totals = { files: 0, stored: 0, duplicate: 0, failed: 0 };
  let unmoved = 0;
  return withStore(config, log, async ({ worker: pool }) => {
    const options = { accountId: account, window: ingestWindow(config), config, moveDone, moveFailed };
    for await (const outcome of replayFreeswitchFiles(pool, paths, options)) {
      totals.files++;
      totals[outcome.status]++;
      if (outcome.move_error) unmoved++;
      if (outcome.status === 'failed')
        log.warn({ file: outcome.file, reason: outcome.reason }, 'replay: file failed');
      printSummary(outcome);
    }
    printSummary({ ...totals, ...(unmoved ? { unmoved } : {}) });
    return totals.failed > 0 || unmoved > 0 ? EXIT_DATA : EXIT_OK;
  });
}

function parseMonth(value: string): Date {
  const m = /^(\d{4})-(\d{2})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw new UsageError('--month must look like 2026-11.');
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
}

/** --now: an ISO 8601 time with its zone (Z or an offset); the current time when absent. */
function parseNow(value: string | undefined): Date {
  if (value === undefined) return new Date();
  const now = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(value) || Number.isNaN(now.getTime()))
    throw new UsageError('--now must be an ISO 8601 time with its zone, e.g. 2026-12-01T12:00:00Z.');
  return now;
}

async function generateCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values } = parse(argv, {
    account: { type: 'string' },
    type: { type: 'string' },
    month: { type: 'string' },
    rows: { type: 'string' },
    seed: { type: 'string' },
    now: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) return help('generate');
  const kind = cdrKind(required(values, 'type'));
  const month = parseMonth(required(values, 'month'));
  const rows = Number(required(values, 'rows'));
  const seed = Number(values.seed ?? 1);
  if (!Number.isInteger(rows) || rows < 0) throw new UsageError('--rows must be a whole number.');
  if (!Number.isInteger(seed)) throw new UsageError('--seed must be a whole number.');
  // "Now" is an input, so the same seed and --now give the same rows on any day.
  const now = parseNow(values.now as string | undefined);
  // Times stay in the ingestion window: the current month is cut a little before its end.
  const window = ingestWindow(config);
  if (!generationSpan(month, window, now))
    throw new UsageError(
      `--month ${values.month as string} lies outside the ingestion window ` +
        `(${window.from.toISOString()} to now + CDREX_INGEST_AHEAD_S), or after --now.`,
    );
  const bar = progress('generated', rows);
  const generate = () =>
    generateCsv({ kind, month, rows, seed, now, window, onProgress: (n) => bar.update(n) });
  const csv = generate();
  const out = values.out as string | undefined;
  if (out) {
    if (out === '-')
      await new Promise<void>((resolve, reject) => {
        csv.pipe(process.stdout);
        csv.on('error', reject).on('end', resolve);
      });
    // FILE.gz is written gzip, as DIDWW serves its exports (import reads either).
    else if (out.endsWith('.gz')) await pipeline(csv, zlib.createGzip(), fs.createWriteStream(out));
    else await pipeline(csv, fs.createWriteStream(out));
    bar.end();
    process.stderr.write(`${JSON.stringify({ written: rows })}\n`);
    return EXIT_OK;
  }
  const account = accountId(required(values, 'account'));
  return withStore(config, log, async ({ worker: pool }) => {
    // The same seed generates the same rows again, should the direct path give the file up.
    const result = await importDidwwCsv(pool, csv, {
      accountId: account,
      kind,
      source: 'generate',
      window,
      reopen: () => Promise.resolve(generate()),
    });
    bar.end();
    printSummary({ inserted: result.inserted });
    return EXIT_OK;
  });
}

/** `cdrex accounts callback-secret create|enable|list|delete`: one JSON line each; the secret's
 * value is printed by create only. */
async function callbackSecretCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parse(rest, { account: { type: 'string' }, id: { type: 'string' } });
  if (values.help || !action) return help('accounts');
  const account = accountId(required(values, 'account'));
  const secretId = () => {
    const id = required(values, 'id');
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw new UsageError("--id must be a callback secret's id (a UUID; see callback-secret list).");
    return id.toLowerCase();
  };
  // The pool's type by inference: importing 'pg' here would make the SQL-text lint read this
  // file's messages as SQL.
  type Pool = Parameters<typeof listCallbackSecrets>[0];
  // Changes are audited as /admin/v1 audits them (callback_secret.created|enabled|deleted), by `cli`.
  const audited = async (pool: Pool, action: string, secret: { id: string }) => {
    await recordAudit(pool, { account_id: account, action, actor: 'cli', detail: { secret_id: secret.id } });
    return secret;
  };
  const run: Record<string, (pool: Pool) => Promise<Record<string, unknown>>> = {
    create: async (pool) => ({
      account_id: account,
      ...(await audited(
        pool,
        'callback_secret.created',
        await createCallbackSecret(pool, loadMasterKey(config), account),
      )),
    }),
    enable: async (pool) => ({
      account_id: account,
      ...(await audited(
        pool,
        'callback_secret.enabled',
        await enableCallbackSecret(pool, account, secretId()),
      )),
    }),
    list: async (pool) => ({
      account_id: account,
      callback_secrets: await listCallbackSecrets(pool, account),
    }),
    delete: async (pool) => ({
      account_id: account,
      deleted: true,
      ...(await audited(
        pool,
        'callback_secret.deleted',
        await deleteCallbackSecret(pool, account, secretId()),
      )),
    }),
  };
  if (!Object.hasOwn(run, action))
    throw new UsageError(`Unknown callback-secret command "${action}"; use create, enable, list or delete.`);
  if (action === 'enable' || action === 'delete') secretId(); // a usage error before any connection
  return withStore(config, log, async ({ worker: pool }) => {
    try {
      printSummary(await run[action](pool));
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    }
  });
}

async function accountsCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'callback-secret') return callbackSecretCommand(rest, config, log);
  if (sub === 'mask') return maskCommand(rest, workerOf(config, log));
  const { values } = parse(rest, { name: { type: 'string' }, account: { type: 'string' } });
  if (values.help || !sub) return help('accounts');
  if (sub === 'list')
    return withStore(config, log, async ({ worker: pool }) => {
      for (const account of await listAccounts(pool)) printSummary(account); // one line each
      return EXIT_OK;
    });
  const masterKey = loadMasterKey(config);
  if (sub === 'create') {
    const name = required(values, 'name');
    return withStore(config, log, async ({ worker: pool }) => {
      const created = await createAccount(pool, masterKey, name);
      await recordAudit(pool, {
        account_id: created.account_id,
        action: 'account.created',
        actor: 'cli',
        detail: { name },
      });
      printSummary(created);
      return EXIT_OK;
    });
  }
  if (sub === 'rotate-key') {
    const account = accountId(required(values, 'account'));
    return withStore(config, log, async ({ worker: pool }) => {
      try {
        const rotated = await rotateApiKey(pool, masterKey, account);
        await recordAudit(pool, { account_id: account, action: 'api_key.rotated', actor: 'cli' });
        printSummary(rotated);
        return EXIT_OK;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        printError({ error: err.message });
        return EXIT_DATA;
      }
    });
  }
  throw new UsageError(
    `Unknown accounts command "${sub}"; use create, list, rotate-key, mask or callback-secret.`,
  );
}

/** `cdrex db distribute [--shards N]`: migrates, then distributes the store on its Citus cluster
 * (src/store/citus.ts); a second run changes nothing. Prints what it placed and how long it took. */
async function distributeCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values } = parse(argv, { shards: { type: 'string' } });
  const shardCount = values.shards === undefined ? config.citusShards : Number(values.shards);
  if (!Number.isInteger(shardCount) || shardCount < 1)
    throw new UsageError('--shards must be a whole number ≥ 1.');
  if (!config.databaseUrl)
    throw new UsageError('Set DATABASE_URL to the Citus coordinator: the embedded PostgreSQL has no Citus.');
  // Migrate first (without distributing, whatever CDREX_CITUS says), then distribute as the owner.
  return withStore({ ...config, citus: false }, log, async ({ urls }) => {
    const owner = createPool(urls.owner, log, { max: 1 });
    try {
      printSummary(await distribute(owner, log, { shardCount }));
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof NotCitusError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    } finally {
      await owner.end();
    }
  });
}

async function dbCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub] = argv;
  if (!sub || sub === '--help' || sub === '-h') return help('db');
  if (sub === 'roles') {
    if (!argv.includes('--print-sql')) throw new UsageError('Use `cdrex db roles --print-sql`.');
    process.stdout.write(`${rolesSql()}\n`);
    return EXIT_OK;
  }
  if (sub === 'distribute') return distributeCommand(argv.slice(1), config, log);
  // Either store: the embedded one, or DATABASE_URL's.
  if (sub === 'dump') return dumpCommand(argv.slice(1), config, log);
  if (sub === 'restore') return restoreCommand(argv.slice(1), config, log);
  if (config.databaseUrl)
    throw new UsageError('DATABASE_URL is set: cdrex uses that server, not an embedded one.');
  const force = argv.includes('--force'); // stop and destroy: even while cdrex processes use it
  if (sub === 'start')
    printSummary({ running: true, ...(await startEmbedded(config.dataDir, log)), url: undefined });
  else if (sub === 'stop') printSummary({ stopped: await stopEmbedded(config.dataDir, { force }) });
  else if (sub === 'destroy' && argv.includes('--orphans'))
    printSummary(await destroyOrphanClusters({ force }));
  else if (sub === 'destroy') printSummary(await destroyEmbedded(config.dataDir, { force }));
  else if (sub === 'status') printSummary(statusEmbedded(config.dataDir));
  else
    throw new UsageError(
      `Unknown db command "${sub}"; use start, stop, status, destroy, dump, restore or distribute.`,
    );
  return EXIT_OK;
}

/** `cdrex exports retry ID`: a failed export goes back to pending with a new job. */
async function exportsCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const { positionals } = parse(rest, {});
  if (!sub) return help('exports');
  if (sub !== 'retry') throw new UsageError(`Unknown exports command "${sub}"; use retry.`);
  if (
    positionals.length !== 1 ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(positionals[0])
  )
    throw new UsageError("Name one export: cdrex exports retry ID (the export's UUID).");
  const id = positionals[0].toLowerCase();
  return withStore(config, log, async ({ worker: pool }) => {
    try {
      const retried = await retryFailedExport(pool, id);
      printSummary({ export_id: retried.id, status: 'pending', job: retried.job });
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof ExportNotFailedError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    }
  });
}

/** `cdrex trunks list --account ID`: one JSON line per voice out trunk id of the account's
 * outbound CDRs (what a cdr_out export's filters.voice_out_trunk.id takes). */
async function trunksCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parse(rest, { account: { type: 'string' } });
  if (values.help || !sub) return help('trunks');
  if (sub !== 'list') throw new UsageError(`Unknown trunks command "${sub}"; use list.`);
  const account = accountId(required(values, 'account'));
  return withStore(config, log, async ({ worker, app }) => {
    if (!(await accountExists(worker, account))) {
      printError({ error: `No account has the id ${account}.` });
      return EXIT_DATA;
    }
    for (const trunk of await listTrunks(app, account)) printSummary(trunk);
    return EXIT_OK;
  });
}

function help(command?: string): number {
  process.stdout.write(`${command ? COMMANDS[command] : USAGE}\n`);
  return EXIT_OK;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'help' && rest[0] in COMMANDS) return help(rest[0]);
  if (!command || command === '--help' || command === '-h' || command === 'help') return help();
  if (command === '--version' || command === '-v' || command === 'version') {
    // src/cli/ and build/cli/ are both two levels below package.json.
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    printSummary({ cdrex: pkg.version, node: process.version });
    return EXIT_OK;
  }
  if (!(command in COMMANDS)) throw new UsageError(`Unknown command "${command}". Run cdrex --help.`);
  if (rest.includes('--help') || rest.includes('-h')) return help(command);
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  releaseHungUpTerminalsAtExit(); // after the logger: its flush at exit comes first
  switch (command) {
    case 'serve': {
      const { values } = parse(rest, { 'no-worker': { type: 'boolean' } });
      // Loaded on demand: the HTTP stack is heavy and the other commands do not need it.
      const { serve } = await import('../server.js');
      await serve(config, log, { worker: !values['no-worker'] });
      return -1; // keeps running
    }
    case 'worker': {
      const { values } = parse(rest, { once: { type: 'boolean' } });
      requireExistingStore(config);
      const { runWorker } = await import('../server.js');
      const code = await runWorker(config, log, { once: Boolean(values.once) });
      if (values.once) printSummary({ worker: 'idle' });
      return values.once ? code : -1;
    }
    case 'migrate':
      parse(rest, {});
      return withStore(
        config,
        log,
        async () => {
          printSummary({ migrated: true });
          return EXIT_OK;
        },
        { create: true },
      );
    case 'db':
      return dbCommand(rest, config, log);
    case 'accounts':
      return accountsCommand(rest, config, log);
    case 'exports':
      return exportsCommand(rest, config, log);
    case 'import':
      return importCommand(rest, config, log);
    case 'generate':
      return generateCommand(rest, config, log);
    case 'admin':
      return adminCommand(rest, (fn) => withStore(config, log, ({ worker }) => fn(worker)));
    case 'audit':
      return auditCommand(rest, (fn) => withStore(config, log, ({ worker }) => fn(worker)));
    case 'cdrs':
      return cdrsCommand(rest, config, log, workerOf(config, log));
    case 'trunks':
      return trunksCommand(rest, config, log);
  }
  return EXIT_USAGE;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      printError({ error: err.message });
      process.exitCode = EXIT_USAGE;
      return;
    }
    printError({ error: (err as Error).message ?? String(err) });
    process.exitCode = EXIT_DATA;
  },
);
