// Kazoo auth tokens: random, stored only as a SHA-256, expiring.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { hashSecret } from '../../accounts/secrets.js';

export async function createToken(pool: pg.Pool, accountId: string, ttlS: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await pool.query(
    `insert into api_tokens (token_hash, account_id, expires_at)
     values ($1::bytea, $2::text, now() + make_interval(secs => $3::int))`,
    [hashSecret(token), accountId, ttlS],
  );
  // Expired tokens are useless; dropping them here keeps the table small without another job.
  await pool.query("delete from api_tokens where expires_at < now() - interval '1 day'");
  return token;
}

/** The account of a Kazoo credential: an api_auth token, or the account's API key itself. */
export async function findAccountByCredential(pool: pg.Pool, secret: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ account_id: string }>({
    name: 'find_account_by_credential',
    text: `select account_id from api_tokens where token_hash = $1::bytea and expires_at > now()
           union all
           select account_id from api_keys where key_hash = $1::bytea
           limit 1`,
    values: [hashSecret(secret)],
  });
  return rows[0]?.account_id;
}
