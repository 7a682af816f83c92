// `cdrex db`: the embedded PostgreSQL (start, stop, status, destroy), dump and restore, the roles'
// SQL, and distributing the store on Citus.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { distribute, NotCitusError } from '../store/citus.js';
import { createPool } from '../store/db.js';
import {
  destroyEmbedded,
  destroyOrphanClusters,
  startEmbedded,
  statusEmbedded,
  stopEmbedded,
} from '../store/embedded.js';
import { rolesSql } from '../store/roles.js';
import { parse, withStore } from './args.js';
import { dumpCommand, restoreCommand } from './db-backup.js';
import { printHelp } from './help.js';
import { EXIT_DATA, EXIT_OK, printError, printSummary, UsageError } from './output.js';

/** `cdrex db distribute [--shards N]`: migrates, then distributes the store on its Citus cluster
 * (src/store/citus.ts); a second run changes nothing. Prints what it placed and how long it took. */
async function distributeCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values } = parse(argv, { shards: { type: 'string' } });
  const shardCount = values.shards === undefined ? config.citusShards : Number(values.shards);
  if (!Number.isInteger(shardCount) || shardCount < 1)
    throw new UsageError('--shards must be a whole number ≥ 1.');
  if (!config.databaseUrl)
    throw new UsageError('Set DATABASE_URL to the Citus coordinator: the embedded PostgreSQL has no Citus.');
  // Migrate first (without distributing, whatever CDREX_CITUS says), then distribute as the owner.
  return withStore({ ...config, citus: false }, log, async ({ urls }) => {
    const owner = createPool(urls.owner, log, { max: 1 });
    try {
      printSummary(await distribute(owner, log, { shardCount }));
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof NotCitusError)) throw err;
      printError({ error: err.message });
      return EXIT_DATA;
    } finally {
      await owner.end();
    }
  });
}

export async function dbCommand(argv: string[], config: Config, log: Logger): Promise<number> {
  const [sub] = argv;
  if (!sub || sub === '--help' || sub === '-h') return printHelp('db');
  if (sub === 'roles') {
    if (!argv.includes('--print-sql')) throw new UsageError('Use `cdrex db roles --print-sql`.');
    process.stdout.write(`${rolesSql()}\n`);
    return EXIT_OK;
  }
  if (sub === 'distribute') return distributeCommand(argv.slice(1), config, log);
  // Either store: the embedded one, or DATABASE_URL's.
  if (sub === 'dump') return dumpCommand(argv.slice(1), config, log);
  if (sub === 'restore') return restoreCommand(argv.slice(1), config, log);
  if (config.databaseUrl)
    throw new UsageError('DATABASE_URL is set: cdrex uses that server, not an embedded one.');
  const force = argv.includes('--force'); // stop and destroy: even while cdrex processes use it
  if (sub === 'start')
    printSummary({ running: true, ...(await startEmbedded(config.dataDir, log)), url: undefined });
  else if (sub === 'stop') printSummary({ stopped: await stopEmbedded(config.dataDir, { force }) });
  else if (sub === 'destroy' && argv.includes('--orphans'))
    printSummary(await destroyOrphanClusters({ force }));
  else if (sub === 'destroy') printSummary(await destroyEmbedded(config.dataDir, { force }));
  else if (sub === 'status') printSummary(statusEmbedded(config.dataDir));
  else
    throw new UsageError(
      `Unknown db command "${sub}"; use start, stop, status, destroy, dump, restore or distribute.`,
    );
  return EXIT_OK;
}
