// Erasure of a subscriber's number from one account's CDRs (a privacy request). The number is
// replaced, wherever it appears whole (with or without a leading +), by a pseudonym that is stable
// for the account and number — `erased-<12 hex>` of an HMAC under the master key — so calls of the
// erased number still group together, and the same request run twice changes nothing more.
// Export files that hold it expire (file deleted, `url: null`). The audit records the full HMAC,
// never the number.
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { eraseNumber } from '../store/queries/lifecycle.js';

/** E.164 with or without the +: 6 to 15 digits, no leading 0. */
const E164 = /^\+?[1-9][0-9]{5,14}$/;

export class NumberFormatError extends Error {}

export function numberDigits(number: string): string {
  if (!E164.test(number))
    throw new NumberFormatError('--number must be an E.164 number: + and 6 to 15 digits.');
  return number.replace(/^\+/, '');
}

/** The keyed hash of the account and the number's digits (both spellings give the same). */
export function numberHash(masterKey: Buffer, account: string, number: string): string {
  return createHmac('sha256', masterKey)
    .update(`${account}\n${numberDigits(number)}`)
    .digest('hex');
}

export function pseudonymFor(masterKey: Buffer, account: string, number: string): string {
  return `erased-${numberHash(masterKey, account, number).slice(0, 12)}`;
}

/** The number whole (not inside a longer one), + or not. Digits only reach the pattern. */
export function erasurePattern(number: string): string {
  return ['(?<![0-9])\\+?', numberDigits(number), '(?![0-9])'].join('');
}

export interface ErasureSummary {
  account_id: string;
  pseudonym: string;
  number_hash: string;
  cdrs: number;
  exports: number;
  export_files: number;
}

export async function eraseAccountNumber(
  pool: pg.Pool,
  options: { masterKey: Buffer; account: string; number: string; exportDir: string; log: Logger },
): Promise<ErasureSummary> {
  const { masterKey, account, number } = options;
  const pseudonym = pseudonymFor(masterKey, account, number);
  const result = await eraseNumber(pool, account, erasurePattern(number), pseudonym);
  // After the commit: the rows no longer point at these files; a crash here leaves unreferenced
  // files, which the export sweep deletes.
  for (const f of result.files)
    await fs.promises.rm(path.join(options.exportDir, f.file_name), { force: true });
  const summary: ErasureSummary = {
    account_id: account,
    pseudonym,
    number_hash: numberHash(masterKey, account, number),
    cdrs: result.cdrs,
    exports: result.exports,
    export_files: result.files.length,
  };
  options.log.info({ erasure: summary }, 'number erased');
  return summary;
}
