// What operators do to accounts and keys (the /admin/v1 API and `cdrex admin`). Every function
// here runs on the worker's pool: an operator acts on every account, which is never a request's
// view of one account (row-level security would show it nothing). Each change and its audit
// record commit together.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { decryptSecret, encryptSecret, generateApiKey, hashSecret } from '../../accounts/secrets.js';
import { CdrexError, NotFoundError } from '../../errors.js';
import { withTransaction } from '../transaction.js';
import { recordAudit } from './audit.js';

/** Who made a change, for the audit log, and from which address. */
export interface Actor {
  actor: string;
  address?: string | null;
}

export class ConflictError extends CdrexError {
  constructor(message: string) {
    super(message, 'conflict', 409);
  }
}

const noAccount = (id: string) => new NotFoundError(`No account has the id ${id}.`);

// --- Operator tokens ---

export interface OperatorToken {
  id: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

type TokenRow = { id: string; name: string; created_at: Date; revoked_at: Date | null };
const tokenInfo = (r: TokenRow): OperatorToken => ({
  id: r.id,
  name: r.name,
  created_at: r.created_at.toISOString(),
  revoked_at: r.revoked_at?.toISOString() ?? null,
});

/** A new operator token; its value is returned this once and stored only as a hash. */
export async function createOperatorToken(
  pool: pg.Pool,
  name: string,
  by: Actor,
): Promise<OperatorToken & { token: string }> {
  const token = `cdrex_op_${randomBytes(32).toString('base64url')}`;
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<TokenRow>(
      `insert into operator_tokens (name, token_hash) values ($1::text, $2::bytea)
       returning id, name, created_at, revoked_at`,
      [name, hashSecret(token)],
    );
    await recordAudit(client, {
      account_id: null,
      action: 'operator_token.created',
      ...by,
      detail: { token_id: rows[0].id, name },
    });
    return { ...tokenInfo(rows[0]), token };
  });
}

export async function listOperatorTokens(pool: pg.Pool): Promise<OperatorToken[]> {
  const { rows } = await pool.query<TokenRow>(
    'select id, name, created_at, revoked_at from operator_tokens order by created_at, id',
  );
  return rows.map(tokenInfo);
}

export async function revokeOperatorToken(pool: pg.Pool, id: string, by: Actor): Promise<OperatorToken> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<TokenRow>(
      `update operator_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1::uuid
       returning id, name, created_at, revoked_at`,
      [id],
    );
    if (!rows[0]) throw new NotFoundError(`No operator token has the id ${id}.`);
    await recordAudit(client, {
      account_id: null,
      action: 'operator_token.revoked',
      ...by,
      detail: { token_id: id },
    });
    return tokenInfo(rows[0]);
  });
}

/** The operator a presented token belongs to (not revoked), or undefined. Runs as cdrex_app
 * through a SECURITY DEFINER function: requests cannot read the table. */
export async function findOperator(
  pool: pg.Pool,
  token: string,
): Promise<{ id: string; name: string } | undefined> {
  const { rows } = await pool.query<{ id: string; name: string }>({
    name: 'find_operator',
    text: 'select id, name from cdrex_operator($1::bytea)',
    values: [hashSecret(token)],
  });
  return rows[0];
}

// --- Accounts ---

export interface AdminAccount {
  account_id: string;
  name: string;
  created_at: string;
  disabled: boolean;
  disabled_at: string | null;
  /** Months of CDRs kept for this account; null follows CDREX_CDR_RETENTION_MONTHS. */
  retention_months: number | null;
  /** Callers' numbers shown with this many last digits masked (Kazoo API, portal, Kazoo CSV);
   * null: not masked. */
  mask_digits: number | null;
  /** DIDWW export files masked too (else byte-exact). */
  mask_exports: boolean;
  keys: number;
}

type AccountRow = {
  id: string;
  name: string;
  created_at: Date;
  disabled_at: Date | null;
  retention_months: number | null;
  mask_digits: number | null;
  mask_exports: boolean;
  keys: number;
};
const ACCOUNT_COLUMNS = `a.id, a.name, a.created_at, a.disabled_at, a.retention_months, a.mask_digits, a.mask_exports,
  (select count(*)::int from api_keys k where k.account_id = a.id) as keys`;

const accountInfo = (r: AccountRow): AdminAccount => ({
  account_id: r.id,
  name: r.name,
  created_at: r.created_at.toISOString(),
  disabled: r.disabled_at !== null,
  disabled_at: r.disabled_at?.toISOString() ?? null,
  retention_months: r.retention_months,
  mask_digits: r.mask_digits,
  mask_exports: r.mask_exports,
  keys: r.keys,
});

/** One page of accounts by id; `after` is the previous page's `next`. */
export async function listAccountsPage(
  pool: pg.Pool,
  after: string | undefined,
  limit: number,
): Promise<{ accounts: AdminAccount[]; next: string | null }> {
  const oneMore = limit + 1; // tells whether a next page exists
  const { rows } = await pool.query<AccountRow>(
    `select ${ACCOUNT_COLUMNS} from accounts a
      where ($1::text is null or a.id > $1::text) order by a.id limit $2::int`,
    [after ?? null, oneMore],
  );
  const page = rows.slice(0, limit).map(accountInfo);
  return { accounts: page, next: rows.length > limit ? page[page.length - 1].account_id : null };
}

async function readAccount(db: pg.Pool | pg.PoolClient, id: string): Promise<AdminAccount> {
  const { rows } = await db.query<AccountRow>(
    `select ${ACCOUNT_COLUMNS} from accounts a where a.id = $1::text`,
    [id],
  );
  if (!rows[0]) throw noAccount(id);
  return accountInfo(rows[0]);
}

export const showAccount = (pool: pg.Pool, id: string) => readAccount(pool, id);

export interface AccountChange {
  name?: string;
  disabled?: boolean;
  /** null: back to the service-wide retention. */
  retention_months?: number | null;
  /** null: no masking (and then no masked exports either). */
  mask_digits?: number | null;
  mask_exports?: boolean;
}

/** Applies a rename, disable/enable, retention and masking change, each audited, in one transaction. */
export async function updateAccount(
  pool: pg.Pool,
  id: string,
  change: AccountChange,
  by: Actor,
): Promise<AdminAccount> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{
      name: string;
      disabled: boolean;
      retention_months: number | null;
      mask_digits: number | null;
      mask_exports: boolean;
    }>(
      `select name, disabled_at is not null as disabled, retention_months, mask_digits, mask_exports
         from accounts where id = $1::text for update`,
      [id],
    );
    const before = rows[0];
    if (!before) throw noAccount(id);
    const audit = (action: string, detail: Record<string, unknown>) =>
      recordAudit(client, { account_id: id, action, ...by, detail });
    if (change.name !== undefined && change.name !== before.name) {
      await client.query('update accounts set name = $2::text where id = $1::text', [id, change.name]);
      await audit('account.renamed', { from: before.name, to: change.name });
    }
    if (change.disabled !== undefined && change.disabled !== before.disabled) {
      await client.query(
        'update accounts set disabled_at = case when $2::boolean then now() end where id = $1::text',
        [id, change.disabled],
      );
      await audit(change.disabled ? 'account.disabled' : 'account.enabled', {});
    }
    if (change.retention_months !== undefined && change.retention_months !== before.retention_months) {
      await client.query('update accounts set retention_months = $2::int where id = $1::text', [
        id,
        change.retention_months,
      ]);
      await audit('account.retention_changed', {
        from: before.retention_months,
        to: change.retention_months,
      });
    }
    // Masked exports only mean something while numbers are masked at all.
    const digits = change.mask_digits !== undefined ? change.mask_digits : before.mask_digits;
    const exports = digits !== null && (change.mask_exports ?? before.mask_exports);
    if (digits !== before.mask_digits || exports !== before.mask_exports) {
      await client.query(
        'update accounts set mask_digits = $2::int, mask_exports = $3::boolean where id = $1::text',
        [id, digits, exports],
      );
      await audit('account.masking_changed', {
        from: { mask_digits: before.mask_digits, mask_exports: before.mask_exports },
        to: { mask_digits: digits, mask_exports: exports },
      });
    }
    return readAccount(client, id);
  });
}

// --- API keys ---

export interface ApiKeyInfo {
  id: string;
  created_at: string;
  /** The key's last four characters, so a customer can tell keys apart; never the key. */
  last4: string;
}

/** A further key for the account; the ones it has keep working until revoked. */
export async function issueApiKey(
  pool: pg.Pool,
  masterKey: Buffer,
  accountId: string,
  by: Actor,
): Promise<ApiKeyInfo & { api_key: string }> {
  const apiKey = generateApiKey();
  return withTransaction(pool, async (client) => {
    await readAccount(client, accountId);
    const { rows } = await client.query<{ id: string; created_at: Date }>(
      `insert into api_keys (account_id, key_hash, key_ciphertext) values ($1::text, $2::bytea, $3::bytea)
       returning id, created_at`,
      [accountId, hashSecret(apiKey), encryptSecret(masterKey, apiKey)],
    );
    const info = { id: rows[0].id, created_at: rows[0].created_at.toISOString(), last4: apiKey.slice(-4) };
    await recordAudit(client, {
      account_id: accountId,
      action: 'api_key.issued',
      ...by,
      detail: { key_id: info.id, last4: info.last4 },
    });
    return { ...info, api_key: apiKey };
  });
}

export async function listApiKeys(
  pool: pg.Pool,
  masterKey: Buffer,
  accountId: string,
): Promise<ApiKeyInfo[]> {
  await readAccount(pool, accountId);
  const { rows } = await pool.query<{ id: string; created_at: Date; key_ciphertext: Buffer }>(
    'select id, created_at, key_ciphertext from api_keys where account_id = $1::text order by created_at, id',
    [accountId],
  );
  // The last four characters come from the encrypted copy, so keys made before key ids existed
  // have them too; the key itself never leaves this function.
  return rows.map((r) => ({
    id: r.id,
    created_at: r.created_at.toISOString(),
    last4: decryptSecret(masterKey, r.key_ciphertext).slice(-4),
  }));
}

/** Revokes one key at once. The account's api_auth tokens go too (any may have been made with
 * it); the last key is refused: disabling the account is how to shut it out. */
export async function revokeApiKey(
  pool: pg.Pool,
  accountId: string,
  keyId: string,
  by: Actor,
): Promise<void> {
  await withTransaction(pool, async (client) => {
    await readAccount(client, accountId);
    const { rows } = await client.query<{ id: string }>(
      'select id from api_keys where account_id = $1::text for update',
      [accountId],
    );
    if (!rows.some((r) => r.id === keyId))
      throw new NotFoundError(`Account ${accountId} has no API key ${keyId}.`);
    if (rows.length === 1)
      throw new ConflictError(
        'This is the account’s only API key: issue another first, or disable the account.',
      );
    await client.query('delete from api_keys where account_id = $1::text and id = $2::uuid', [
      accountId,
      keyId,
    ]);
    await client.query('delete from api_tokens where account_id = $1::text', [accountId]);
    await recordAudit(client, {
      account_id: accountId,
      action: 'api_key.revoked',
      ...by,
      detail: { key_id: keyId },
    });
  });
}
