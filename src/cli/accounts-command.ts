// `cdrex accounts`: create, list, rotate-key, mask and callback-secret.
import { loadMasterKey } from '../accounts/secrets.js';
import type { Config } from '../config.js';
import { NotFoundError } from '../errors.js';
import { maskCommand } from '../lifecycle/commands.js';
import type { Logger } from '../log.js';
import { listAccounts } from '../store/queries/account-list.js';
import {
  createAccount,
  createCallbackSecret,
  deleteCallbackSecret,
  enableCallbackSecret,
  listCallbackSecrets,
  rotateApiKey,
} from '../store/queries/accounts.js';
import { recordAudit } from '../store/queries/audit.js';
import { accountId, parse, required, withStore, workerOf } from './args.js';
import { printHelp } from './help.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from './output.js';

/** `cdrex accounts callback-secret create|enable|list|delete`: one JSON line each; the secret's
 * value is printed by create only. */
async function callbackSecretCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parse(rest, { account: { type: 'string' }, id: { type: 'string' } });
  if (values.help || !action) return printHelp('accounts');
  const account = accountId(required(values, 'account'));
  const secretId = () => {
    const id = required(values, 'id');
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw new UsageError("--id must be a callback secret's id (a UUID; see callback-secret list).");
    return id.toLowerCase();
  };
  // The pool's type by inference: importing 'pg' here would make the SQL-text lint read this
  // file's messages as SQL.
  type Pool = Parameters<typeof listCallbackSecrets>[0];
  // Changes are audited as /admin/v1 audits them (callback_secret.created|enabled|deleted), by `cli`.
  const audited = async (pool: Pool, action: string, secret: { id: string }) => {
    await recordAudit(pool, { account_id: account, action, actor: 'cli', detail: { secret_id: secret.id } });
    return secret;
  };
  const run: Record<string, (pool: Pool) => Promise<Record<string, unknown>>> = {
    create: async (pool) => ({
      account_id: account,
      ...(await audited(
        pool,
        'callback_secret.created',
        await createCallbackSecret(pool, loadMasterKey(config), account),
      )),
    }),
    enable: async (pool) => ({
      account_id: account,
      ...(await audited(
        pool,
        'callback_secret.enabled',
        await enableCallbackSecret(pool, account, secretId()),
      )),
    }),
    list: async (pool) => ({
      account_id: account,
      callback_secrets: await listCallbackSecrets(pool, account),
    }),
    delete: async (pool) => ({
      account_id: account,
      deleted: true,
      ...(await audited(
        pool,
        'callback_secret.deleted',
        await deleteCallbackSecret(pool, account, secretId()),
      )),
    }),
  };
  if (!Object.hasOwn(run, action))
    throw new UsageError(`Unknown callback-secret command "${action}"; use create, enable, list or delete.`);
  if (action === 'enable' || action === 'delete') secretId(); // a usage error before any connection
  return withStore(config, log, async ({ worker: pool }) => {
    try {
      printSummary(await run[action](pool));
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    }
  });
}

export async function accountsCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'callback-secret') return callbackSecretCommand(rest, config, log);
  if (sub === 'mask') return maskCommand(rest, workerOf(config, log));
  const { values } = parse(rest, { name: { type: 'string' }, account: { type: 'string' } });
  if (values.help || !sub) return printHelp('accounts');
  if (sub === 'list')
    return withStore(config, log, async ({ worker: pool }) => {
      for (const account of await listAccounts(pool)) printSummary(account); // one line each
      return EXIT_OK;
    });
  const masterKey = loadMasterKey(config);
  if (sub === 'create') {
    const name = required(values, 'name');
    return withStore(config, log, async ({ worker: pool }) => {
      const created = await createAccount(pool, masterKey, name);
      await recordAudit(pool, {
        account_id: created.account_id,
        action: 'account.created',
        actor: 'cli',
        detail: { name },
      });
      printSummary(created);
      return EXIT_OK;
    });
  }
  if (sub === 'rotate-key') {
    const account = accountId(required(values, 'account'));
    return withStore(config, log, async ({ worker: pool }) => {
      try {
        const rotated = await rotateApiKey(pool, masterKey, account);
        await recordAudit(pool, { account_id: account, action: 'api_key.rotated', actor: 'cli' });
        printSummary(rotated);
        return EXIT_OK;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        printError({ error: err.message });
        return EXIT_DATA;
      }
    });
  }
  throw new UsageError(
    `Unknown accounts command "${sub}"; use create, list, rotate-key, mask or callback-secret.`,
  );
}
