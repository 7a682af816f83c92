// `cdrex import`: DIDWW CSV exports (the default), Kazoo JSON/NDJSON/CSV, Asterisk Master.csv and
// FreeSWITCH mod_json_cdr files, each through the ingestion path the API uses.
import fs from 'node:fs';
import type { Config } from '../config.js';
import { DataError, NotFoundError } from '../errors.js';
import {
  DEFAULT_INBOUND_CONTEXTS,
  importAsteriskCsv,
  isTimeZone,
  type Direction,
} from '../ingest/asterisk.js';
import { importDidwwCsv } from '../ingest/didww-csv.js';
import { replayFreeswitchFiles } from '../ingest/freeswitch-replay.js';
import { kazooDocToRecord } from '../ingest/kazoo.js';
import { loadRecords } from '../ingest/records.js';
import { uploadRecords } from '../ingest/upload-body.js';
import { ingestWindow } from '../ingest/window.js';
import type { Logger } from '../log.js';
import { accountId, cdrKind, parse, required, withStore } from './args.js';
import type { Flags } from './flags.js';
import { printHelp } from './help.js';
import { openInput, type WatchedInput } from './input.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, progress, UsageError } from './output.js';
import { wrongTypeMessage } from './sniff.js';

export async function importCommand(argv: string[], config: Config, log: Logger): Promise<number> {
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
  if (values.help) return printHelp('import');
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
