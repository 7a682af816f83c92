// `cdrex admin token create|list|revoke` and `cdrex audit`: flags in, one JSON line per thing out.
// The work is in src/store/queries/admin.ts and audit.ts, the same functions /admin/v1 uses.
import { NotFoundError } from '../errors.js';
import { flagValues, type WithWorker } from '../cli/flags.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from '../cli/output.js';
import { createOperatorToken, listOperatorTokens, revokeOperatorToken } from '../store/queries/admin.js';
import { listAudit } from '../store/queries/audit.js';

const CLI = { actor: 'cli' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `cdrex admin token create [--name N]`, `list`, `revoke --id ID`. */
export async function adminCommand(argv: string[], onWorker: WithWorker): Promise<number> {
  const [noun, verb, ...rest] = argv;
  if (noun !== 'token') throw new UsageError('Use cdrex admin token create|list|revoke.');
  if (verb === 'create') {
    const values = flagValues(rest, { name: { type: 'string' } });
    const name = typeof values.name === 'string' && values.name ? values.name : 'operator';
    return onWorker(async (pool) => {
      printSummary(await createOperatorToken(pool, name, CLI));
      return EXIT_OK;
    });
  }
  if (verb === 'list') {
    flagValues(rest, {});
    return onWorker(async (pool) => {
      for (const token of await listOperatorTokens(pool)) printSummary(token); // one line each
      return EXIT_OK;
    });
  }
  if (verb === 'revoke') {
    const id = flagValues(rest, { id: { type: 'string' } }).id;
    if (typeof id !== 'string' || !UUID.test(id))
      throw new UsageError("--id must be an operator token's id (a UUID; see cdrex admin token list).");
    return onWorker(async (pool) => {
      try {
        printSummary(await revokeOperatorToken(pool, id.toLowerCase(), CLI));
        return EXIT_OK;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        printError({ error: err.message });
        return EXIT_DATA;
      }
    });
  }
  throw new UsageError(`Unknown admin token command "${verb ?? ''}"; use create, list or revoke.`);
}

/** `cdrex audit [--account ID] [--action A] [--limit N]`: the newest events first, one line each. */
export async function auditCommand(argv: string[], onWorker: WithWorker): Promise<number> {
  const values = flagValues(argv, {
    account: { type: 'string' },
    action: { type: 'string' },
    limit: { type: 'string' },
  });
  const account = values.account;
  if (account !== undefined && (typeof account !== 'string' || !/^[0-9a-f]{32}$/.test(account)))
    throw new UsageError('--account must be an account id: 32 lowercase hex characters.');
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
    throw new UsageError('--limit must be a whole number from 1 to 100000.');
  const action = typeof values.action === 'string' ? values.action : undefined;
  return onWorker(async (pool) => {
    const { events } = await listAudit(pool, { account, action, limit });
    for (const event of events) printSummary(event);
    return EXIT_OK;
  });
}
