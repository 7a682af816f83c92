// `cdrex generate`: realistic CDRs for a month, seeded, into the store or a file.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Config } from '../config.js';
import { importDidwwCsv } from '../ingest/didww-csv.js';
import { generateCsv, generationSpan } from '../ingest/generate.js';
import { ingestWindow } from '../ingest/window.js';
import type { Logger } from '../log.js';
import { accountId, cdrKind, parse, required, withStore } from './args.js';
import { printHelp } from './help.js';
import { EXIT_OK, printSummary, progress, UsageError } from './output.js';

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

export async function generateCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values } = parse(argv, {
    account: { type: 'string' },
    type: { type: 'string' },
    month: { type: 'string' },
    rows: { type: 'string' },
    seed: { type: 'string' },
    now: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) return printHelp('generate');
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
