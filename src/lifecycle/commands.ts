// `cdrex cdrs purge`, `cdrex cdrs erase` and `cdrex accounts mask`: flags in, one JSON line per
// thing done out. The work is in retention.ts, erasure.ts and src/store/queries/lifecycle.ts.
import { loadMasterKey } from '../accounts/secrets.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { NotFoundError } from '../errors.js';
import { updateAccount } from '../store/queries/admin.js';
import { accountExists } from '../store/queries/lifecycle.js';
import { flagValues, type Flags, type WithWorker } from '../cli/flags.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from '../cli/output.js';
import { eraseAccountNumber, numberDigits, NumberFormatError } from './erasure.js';
import { applyRetention, earliestAllowedCut, type RetentionPlan } from './retention.js';
import { lifecycleSettings } from './settings.js';

function account(values: Flags): string {
  const v = values.account;
  if (typeof v !== 'string' || !/^[0-9a-f]{32}$/.test(v))
    throw new UsageError('--account must be an account id: 32 lowercase hex characters.');
  return v;
}

/** `--before YYYY-MM`: the first instant of that month, UTC; no later than three months back. */
function beforeMonth(raw: unknown, now: Date): Date {
  const m = typeof raw === 'string' ? /^(\d{4})-(0[1-9]|1[0-2])$/.exec(raw) : null;
  if (!m) throw new UsageError('--before must be a month, YYYY-MM (rows before its first day go).');
  const before = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const earliest = earliestAllowedCut(now);
  if (before > earliest)
    throw new UsageError(
      `--before ${raw} would remove rows of the last three months, which cdrex always keeps ` +
        `(DIDWW's window); the latest allowed is ${earliest.toISOString().slice(0, 7)}.`,
    );
  return before;
}

async function purge(argv: string[], config: Config, log: Logger, withWorker: WithWorker): Promise<number> {
  const values = flagValues(argv, {
    before: { type: 'string' },
    account: { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  const before = beforeMonth(values.before, new Date());
  const one = values.account === undefined ? undefined : account(values);
  // Everyone's rows: whole partitions; one account's: batched deletes.
  const plan: RetentionPlan = one
    ? { dropBefore: null, accounts: [{ account_id: one, before }] }
    : { dropBefore: before, accounts: [] };
  const { lockTimeoutMs, lockAttempts } = lifecycleSettings(config);
  return withWorker(async (pool) => {
    if (one && !(await accountExists(pool, one))) {
      printError({ error: `No account ${one}.` });
      return EXIT_DATA;
    }
    const result = await applyRetention(pool, plan, {
      exportDir: config.exportDir,
      log,
      lockTimeoutMs,
      lockAttempts,
      dryRun: Boolean(values['dry-run']),
      onLine: printSummary,
      actor: 'cli',
    });
    printSummary({ totals: result.totals });
    return EXIT_OK;
  });
}

async function erase(argv: string[], config: Config, log: Logger, withWorker: WithWorker): Promise<number> {
  const values = flagValues(argv, { account: { type: 'string' }, number: { type: 'string' } });
  const id = account(values);
  const number = typeof values.number === 'string' ? values.number : '';
  try {
    numberDigits(number); // a usage error before any connection
  } catch (err) {
    if (err instanceof NumberFormatError) throw new UsageError(err.message);
    throw err;
  }
  const masterKey = loadMasterKey(config);
  return withWorker(async (pool) => {
    if (!(await accountExists(pool, id))) {
      printError({ error: `No account ${id}.` });
      return EXIT_DATA;
    }
    printSummary(
      await eraseAccountNumber(pool, { masterKey, account: id, number, exportDir: config.exportDir, log }),
    );
    return EXIT_OK;
  });
}

/** `cdrex cdrs purge|erase`. */
export async function cdrsCommand(
  argv: string[],
  config: Config,
  log: Logger,
  withWorker: WithWorker,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'purge') return purge(rest, config, log, withWorker);
  if (sub === 'erase') return erase(rest, config, log, withWorker);
  throw new UsageError(`Unknown cdrs command "${sub ?? ''}"; use purge or erase.`);
}

/** `cdrex accounts mask --account ID --digits N [--exports]`; `--digits 0` turns masking off. */
export async function maskCommand(argv: string[], withWorker: WithWorker): Promise<number> {
  const values = flagValues(argv, {
    account: { type: 'string' },
    digits: { type: 'string' },
    exports: { type: 'boolean' },
  });
  const id = account(values);
  const raw = values.digits;
  const digits = typeof raw === 'string' && /^(10|[0-9])$/.test(raw) ? Number(raw) : undefined;
  if (digits === undefined) throw new UsageError('--digits must be a whole number from 0 (off) to 10.');
  return withWorker(async (pool) => {
    // The admin API's update: the change and its audit (account.masking_changed) commit together.
    let set;
    try {
      set = await updateAccount(
        pool,
        id,
        { mask_digits: digits === 0 ? null : digits, mask_exports: Boolean(values.exports) },
        { actor: 'cli' },
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      printError({ error: `No account ${id}.` });
      return EXIT_DATA;
    }
    printSummary({ account_id: id, mask_digits: set.mask_digits ?? 0, mask_exports: set.mask_exports });
    return EXIT_OK;
  });
}
