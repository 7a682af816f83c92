// Kazoo auth tokens: random, stored only as a SHA-256, expiring.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { hashSecret } from '../../accounts/secrets.js';
import type { AccountDb } from '../account-db.js';

/** What a token may do: undefined for an ordinary api_auth token, 'csv_download' for the
 * portal's CSV link (refused by every other route). */
export type TokenScope = 'csv_download';

export async function createToken(db: AccountDb, ttlS: number, scope?: TokenScope): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db.query(
    `insert into api_tokens (token_hash, account_id, expires_at, scope)
     values ($1::bytea, $2::text, now() + make_interval(secs => $3::int), $4::text)`,
    [hashSecret(token), db.accountId, ttlS, scope ?? null],
  );
  // Expired tokens are useless; dropping them here keeps the table small without another job.
  await db.query("delete from api_tokens where expires_at < now() - interval '1 day'");
  return token;
}

export interface Credential {
  accountId: string;
  /** An api_auth token (echoed in Kazoo's auth_token) or the account's API key (never echoed). */
  kind: 'token' | 'api_key';
  scope: TokenScope | null;
}

/** A Kazoo credential: an api_auth token, or the account's API key itself. */
export async function findCredential(pool: pg.Pool, secret: string): Promise<Credential | undefined> {
  const { rows } = await pool.query<{
    account_id: string;
    kind: Credential['kind'];
    scope: TokenScope | null;
  }>({
    name: 'find_credential',
    text: 'select account_id, kind, scope from cdrex_credential($1::bytea)',
    values: [hashSecret(secret)],
  });
  const row = rows[0];
  return row && { accountId: row.account_id, kind: row.kind, scope: row.scope };
}
