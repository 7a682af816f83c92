// Accounts and their API keys.
import type pg from 'pg';
import {
  decryptSecret,
  encryptSecret,
  generateAccountId,
  generateApiKey,
  hashSecret,
} from '../../accounts/secrets.js';
import { NotFoundError } from '../../errors.js';
import { withTransaction } from '../account-db.js';

export interface CreatedAccount {
  account_id: string;
  api_key: string;
}

export async function createAccount(pool: pg.Pool, masterKey: Buffer, name: string): Promise<CreatedAccount> {
  const accountId = generateAccountId();
  const apiKey = generateApiKey();
  await withTransaction(pool, async (client) => {
    await client.query('insert into accounts (id, name) values ($1::text, $2::text)', [accountId, name]);
    await client.query(
      'insert into api_keys (account_id, key_hash, key_ciphertext) values ($1::text, $2::bytea, $3::bytea)',
      [accountId, hashSecret(apiKey), encryptSecret(masterKey, apiKey)],
    );
  });
  return { account_id: accountId, api_key: apiKey };
}

/** Replaces the account's key; the old one stops working at once, and so does every api_auth
 * token issued for it (a key is rotated because it leaked: tokens made with it must go too). */
export async function rotateApiKey(
  pool: pg.Pool,
  masterKey: Buffer,
  accountId: string,
): Promise<CreatedAccount> {
  const apiKey = generateApiKey();
  await withTransaction(pool, async (client) => {
    const { rowCount } = await client.query(
      `update api_keys set key_hash = $2::bytea, key_ciphertext = $3::bytea, created_at = now()
        where account_id = $1::text`,
      [accountId, hashSecret(apiKey), encryptSecret(masterKey, apiKey)],
    );
    if (!rowCount) throw new NotFoundError(`No account has the id ${accountId}.`);
    await client.query('delete from api_tokens where account_id = $1::text', [accountId]);
  });
  return { account_id: accountId, api_key: apiKey };
}

/** The account a presented key belongs to, or undefined. */
export async function findAccountByApiKey(pool: pg.Pool, apiKey: string): Promise<string | undefined> {
  const presented = hashSecret(apiKey);
  // Runs before any account is known: a SECURITY DEFINER function (migration 3) looks the
  // hash up and returns only the account id.
  const { rows } = await pool.query<{ account_id: string | null }>({
    name: 'find_account_by_key',
    text: 'select cdrex_account_by_key($1::bytea) as account_id',
    values: [presented],
  });
  return rows[0]?.account_id ?? undefined;
}

export async function accountExists(pool: pg.Pool, accountId: string): Promise<boolean> {
  const { rows } = await pool.query('select 1 from accounts where id = $1::text', [accountId]);
  return rows.length > 0;
}

/** The account's current key in plain text, for signing callbacks at delivery time. */
export async function readApiKey(pool: pg.Pool, masterKey: Buffer, accountId: string): Promise<string> {
  const { rows } = await pool.query<{ key_ciphertext: Buffer }>(
    'select key_ciphertext from api_keys where account_id = $1::text',
    [accountId],
  );
  if (!rows[0]) throw new NotFoundError(`No account has the id ${accountId}.`);
  return decryptSecret(masterKey, rows[0].key_ciphertext);
}
