// What the commands share: their flags (every command takes --help), the values several take
// (--account, --type), and a store opened for one command and closed after it.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { openStore } from '../store/db.js';
import { CDR_KINDS, type CdrKind } from '../store/queries/cdrs.js';
import { type FlagOptions, type Flags, parseFlags, type WithWorker } from './flags.js';
import { UsageError } from './output.js';
import { requireExistingStore } from './store-check.js';

/** Every command takes --help (-h) and positional arguments. */
export function parse(argv: string[], options: FlagOptions): { values: Flags; positionals: string[] } {
  return parseFlags(argv, { ...options, help: { type: 'boolean', short: 'h' } }, true);
}

export function required(values: Flags, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required.`);
  return v;
}

export function cdrKind(value: string): CdrKind {
  if (!CDR_KINDS.includes(value as CdrKind))
    throw new UsageError(`--type must be cdr_in or cdr_out, not "${value}".`);
  return value as CdrKind;
}

export function accountId(value: string): string {
  if (!/^[0-9a-f]{32}$/.test(value))
    throw new UsageError('--account must be an account id: 32 lowercase hex characters.');
  return value;
}

export async function withStore<T>(
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
export const workerOf =
  (config: Config, log: Logger): WithWorker =>
  (fn) =>
    withStore(config, log, ({ worker }) => fn(worker));
