// Accounts, their API keys and their callback secrets.
import type pg from 'pg';
import {
  decryptSecret,
  encryptSecret,
  generateAccountId,
  generateApiKey,
  generateCallbackSecret,
  hashSecret,
} from '../../accounts/secrets.js';
import { NotFoundError } from '../../errors.js';
import { withTransaction } from '../transaction.js';

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
    // An account may hold several keys (the admin API issues a second one): all of them go.
    const { rowCount } = await client.query('select 1 from accounts where id = $1::text for update', [
      accountId,
    ]);
    if (!rowCount) throw new NotFoundError(`No account has the id ${accountId}.`);
    await client.query('delete from api_keys where account_id = $1::text', [accountId]);
    await client.query(
      'insert into api_keys (account_id, key_hash, key_ciphertext) values ($1::text, $2::bytea, $3::bytea)',
      [accountId, hashSecret(apiKey), encryptSecret(masterKey, apiKey)],
    );
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

/** The account's current key in plain text, for signing callbacks at delivery time. With two keys
 * (a rotation under way) the older one signs: it is the one the customer's receiver already has,
 * until the customer revokes it. */
export async function readApiKey(pool: pg.Pool, masterKey: Buffer, accountId: string): Promise<string> {
  const { rows } = await pool.query<{ key_ciphertext: Buffer }>(
    'select key_ciphertext from api_keys where account_id = $1::text order by created_at, id limit 1',
    [accountId],
  );
  if (!rows[0]) throw new NotFoundError(`No account has the id ${accountId}.`);
  return decryptSecret(masterKey, rows[0].key_ciphertext);
}

// Callback secrets (migration 000007): one account may keep several, at most one enabled. Every
// query names the account, so a secret id of another account is simply not found.

export interface CallbackSecretInfo {
  id: string;
  created_at: string;
  enabled: boolean;
}

async function requireAccount(client: pg.PoolClient, accountId: string): Promise<void> {
  const { rows } = await client.query('select 1 from accounts where id = $1::text', [accountId]);
  if (!rows[0]) throw new NotFoundError(`No account has the id ${accountId}.`);
}

/** `fn` in one transaction, after checking that the account exists (NotFoundError if not). */
function withAccount<T>(
  pool: pg.Pool,
  accountId: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return withTransaction(pool, async (client) => {
    await requireAccount(client, accountId);
    return fn(client);
  });
}

/** What every callback-secret statement returns (`returning id, created_at, enabled`). */
interface SecretRow {
  id: string;
  created_at: Date;
  enabled: boolean;
}

/** The secret a statement on one id returned; NotFoundError when it matched none. */
function theSecret(rows: SecretRow[], accountId: string, id: string): CallbackSecretInfo {
  if (!rows[0]) throw new NotFoundError(`Account ${accountId} has no callback secret ${id}.`);
  return secretInfo(rows[0]);
}

/** A new, not yet enabled secret; its value is returned this once and stored only encrypted. */
export async function createCallbackSecret(
  pool: pg.Pool,
  masterKey: Buffer,
  accountId: string,
): Promise<CallbackSecretInfo & { secret: string }> {
  const secret = generateCallbackSecret();
  return withAccount(pool, accountId, async (client) => {
    const { rows } = await client.query<SecretRow>(
      `insert into callback_secrets (account_id, secret_ciphertext) values ($1::text, $2::bytea)
       returning id, created_at, enabled`,
      [accountId, encryptSecret(masterKey, secret)],
    );
    return { ...secretInfo(rows[0]), secret };
  });
}

function secretInfo(row: SecretRow): CallbackSecretInfo {
  return { id: row.id, created_at: row.created_at.toISOString(), enabled: row.enabled };
}

/** Enables one secret and disables the account's others, in one transaction. */
export async function enableCallbackSecret(
  pool: pg.Pool,
  accountId: string,
  id: string,
): Promise<CallbackSecretInfo> {
  return withAccount(pool, accountId, async (client) => {
    // Two enables of one account at once would both clear the old row, then one would break the
    // one-enabled index: locking the account's secrets first makes the second wait instead.
    await client.query('select id from callback_secrets where account_id = $1::text for update', [accountId]);
    await client.query(
      'update callback_secrets set enabled = false where account_id = $1::text and enabled and id <> $2::uuid',
      [accountId, id],
    );
    const { rows } = await client.query<SecretRow>(
      `update callback_secrets set enabled = true where account_id = $1::text and id = $2::uuid
       returning id, created_at, enabled`,
      [accountId, id],
    );
    return theSecret(rows, accountId, id);
  });
}

/** The account's secrets, oldest first: ids, dates and which is enabled, never a value. */
export async function listCallbackSecrets(pool: pg.Pool, accountId: string): Promise<CallbackSecretInfo[]> {
  return withAccount(pool, accountId, async (client) => {
    const { rows } = await client.query<SecretRow>(
      `select id, created_at, enabled from callback_secrets where account_id = $1::text
        order by created_at, id`,
      [accountId],
    );
    return rows.map(secretInfo);
  });
}

/** Deletes a secret; when it was the enabled one, callbacks are signed with the API key again. */
export async function deleteCallbackSecret(
  pool: pg.Pool,
  accountId: string,
  id: string,
): Promise<CallbackSecretInfo> {
  return withAccount(pool, accountId, async (client) => {
    const { rows } = await client.query<SecretRow>(
      'delete from callback_secrets where account_id = $1::text and id = $2::uuid returning id, created_at, enabled',
      [accountId, id],
    );
    return theSecret(rows, accountId, id);
  });
}

export interface SigningKey {
  key: string;
  /** What signs: the enabled callback secret, else the API key (as before callback secrets). */
  kind: 'callback_secret' | 'api_key';
}

/** The key a callback is signed with at delivery time: the enabled secret, else the API key. */
export async function readCallbackSigningKey(
  pool: pg.Pool,
  masterKey: Buffer,
  accountId: string,
): Promise<SigningKey> {
  const { rows } = await pool.query<{ secret_ciphertext: Buffer }>(
    'select secret_ciphertext from callback_secrets where account_id = $1::text and enabled',
    [accountId],
  );
  if (rows[0]) return { key: decryptSecret(masterKey, rows[0].secret_ciphertext), kind: 'callback_secret' };
  return { key: await readApiKey(pool, masterKey, accountId), kind: 'api_key' };
}
