// Only `serve`, `migrate` and `db start` may create a new embedded store. Any other command run
// in the wrong directory (without CDREX_DATA_DIR, ./data is relative to where it runs) would
// otherwise start an empty store of its own, and its accounts or imports would be invisible to
// the server the user meant.
import { ConfigError, type Config } from '../config.js';
import { embeddedStoreExists } from '../store/embedded.js';

/** The command as typed, for the message: its words before the first flag (`accounts create`). */
function commandWords(): string {
  const words = process.argv.slice(2);
  const flag = words.findIndex((w) => w.startsWith('-'));
  return words.slice(0, Math.min(flag < 0 ? words.length : flag, 2)).join(' ');
}

export function requireExistingStore(config: Config): void {
  if (config.databaseUrl || embeddedStoreExists(config.dataDir)) return;
  const command = commandWords();
  const where = process.env.CDREX_DATA_DIR
    ? `CDREX_DATA_DIR (${config.dataDir})`
    : `${config.dataDir} (./data of the current directory; CDREX_DATA_DIR is not set)`;
  throw new ConfigError(
    `No cdrex store in ${where}, and \`cdrex ${command}\` does not create one. Run it in the directory ` +
      'where `npm start` (cdrex serve) made ./data, or set CDREX_DATA_DIR to that data directory ' +
      '(or DATABASE_URL to your PostgreSQL); to start a new store here, run `cdrex migrate` or `cdrex db start` first.',
  );
}
