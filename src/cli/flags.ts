// Command-line flags for every command: node's parseArgs, strict, with its errors as usage errors
// (exit 2 with one line), and the one type each command's worker-pool runner has.
import { parseArgs } from 'node:util';
import type { Pool } from '../store/db.js';
import { UsageError } from './output.js';

export type Flags = Record<string, string | boolean | undefined>;
export type FlagOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** Runs fn on the worker's pool of the store (main.ts opens and closes it). */
export type WithWorker = (fn: (pool: Pool) => Promise<number>) => Promise<number>;

export function parseFlags(
  argv: string[],
  options: FlagOptions,
  allowPositionals = false,
): { values: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as Flags, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The flags alone, for commands that take no positional arguments. */
export function flagValues(argv: string[], options: FlagOptions): Flags {
  return parseFlags(argv, options).values;
}
