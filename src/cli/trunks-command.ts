// `cdrex trunks list`: the account's voice out trunk ids.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { accountExists } from '../store/queries/accounts.js';
import { listTrunks } from '../store/queries/trunks.js';
import { accountId, parse, required, withStore } from './args.js';
import { printHelp } from './help.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from './output.js';

/** `cdrex trunks list --account ID`: one JSON line per voice out trunk id of the account's
 * outbound CDRs (what a cdr_out export's filters.voice_out_trunk.id takes). */
export async function trunksCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parse(rest, { account: { type: 'string' } });
  if (values.help || !sub) return printHelp('trunks');
  if (sub !== 'list') throw new UsageError(`Unknown trunks command "${sub}"; use list.`);
  const account = accountId(required(values, 'account'));
  return withStore(config, log, async ({ worker, app }) => {
    if (!(await accountExists(worker, account))) {
      printError({ error: `No account has the id ${account}.` });
      return EXIT_DATA;
    }
    for (const trunk of await listTrunks(app, account)) printSummary(trunk);
    return EXIT_OK;
  });
}
