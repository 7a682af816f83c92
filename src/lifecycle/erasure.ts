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
import { withTransaction } from '../store/transaction.js';
import { recordAudit } from '../store/queries/audit.js';
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
  options: {
    masterKey: Buffer;
    account: string;
    number: string;
    exportDir: string;
    /** Only `info` is used, so a request's logger (carrying its request id) fits too. */
    log: Pick<Logger, 'info'>;
    /** Who asked, for the audit log (`cli`, `operator:<name>`). */
    actor?: string;
    /** The client's address when the request came over HTTP (/admin/v1). */
    address?: string | null;
  },
): Promise<ErasureSummary> {
  const { masterKey, account, number } = options;
  const pseudonym = pseudonymFor(masterKey, account, number);
  const hash = numberHash(masterKey, account, number);
  // The audit event commits with the change it records, or neither does.
  const summary = await withTransaction(pool, async (client) => {
    const result = await eraseNumber(client, account, erasurePattern(number), pseudonym);
    const done: ErasureSummary & { files: string[] } = {
      account_id: account,
      pseudonym,
      number_hash: hash,
      cdrs: result.cdrs,
      exports: result.exports,
      export_files: result.files.length,
      files: result.files.map((f) => f.file_name),
    };
    await recordAudit(client, {
      account_id: account,
      action: 'cdrs.erased',
      actor: options.actor ?? 'cli',
      address: options.address ?? null,
      detail: {
        number_hash: hash,
        pseudonym,
        cdrs: done.cdrs,
        exports: done.exports,
        export_files: result.files.map((f) => f.id),
      },
    });
    return done;
  });
  // After the commit: the rows no longer point at these files; a crash here leaves unreferenced
  // files, which the export sweep deletes.
  const { files, ...out } = summary;
  for (const f of files) await fs.promises.rm(path.join(options.exportDir, f), { force: true });
  options.log.info({ erasure: out }, 'number erased');
  return out;
}
