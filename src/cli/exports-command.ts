// `cdrex exports retry ID`: a failed export back to pending.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { ExportNotFailedError, retryFailedExport } from '../store/queries/exports.js';
import { parse, withStore } from './args.js';
import { printHelp } from './help.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from './output.js';

/** `cdrex exports retry ID`: a failed export goes back to pending with a new job. */
export async function exportsCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const { positionals } = parse(rest, {});
  if (!sub) return printHelp('exports');
  if (sub !== 'retry') throw new UsageError(`Unknown exports command "${sub}"; use retry.`);
  if (
    positionals.length !== 1 ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(positionals[0])
  )
    throw new UsageError("Name one export: cdrex exports retry ID (the export's UUID).");
  const id = positionals[0].toLowerCase();
  return withStore(config, log, async ({ worker: pool }) => {
    try {
      const retried = await retryFailedExport(pool, id);
      printSummary({ export_id: retried.id, status: 'pending', job: retried.job });
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof ExportNotFailedError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    }
  });
}
