// The `cdrex` command line. It parses flags and calls the same functions the server uses; it holds
// no business logic. Each command's module is loaded when that command runs: operators run cdrex
// from scripts and cron, and `accounts list` need not load the CSV, JSON and HTTP stacks that
// `import` and `serve` use.
import fs from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../log.js';
import { parse, withStore, workerOf } from './args.js';
import { COMMANDS, printHelp } from './help.js';
import { EXIT_DATA, EXIT_OK, EXIT_USAGE, printError, printSummary, UsageError } from './output.js';
import { requireExistingStore } from './store-check.js';
import { releaseHungUpTerminalsAtExit } from './terminal.js';

type Command = (argv: string[], config: Config, log: Logger) => Promise<number>;

/** Every command of help.ts's COMMANDS, by name. */
const commands: Record<string, () => Promise<Command>> = {
  serve: async () => {
    // The HTTP stack is the heaviest of all; only serve loads it.
    const { serve } = await import('../server.js');
    return async (argv, config, log) => {
      const { values } = parse(argv, { 'no-worker': { type: 'boolean' } });
      await serve(config, log, { worker: !values['no-worker'] });
      return -1; // keeps running
    };
  },
  worker: async () => {
    const { runWorker } = await import('../server.js');
    return async (argv, config, log) => {
      const { values } = parse(argv, { once: { type: 'boolean' } });
      requireExistingStore(config);
      const code = await runWorker(config, log, { once: Boolean(values.once) });
      if (values.once) printSummary({ worker: 'idle' });
      return values.once ? code : -1;
    };
  },
  migrate: async () => async (argv, config, log) => {
    parse(argv, {});
    const migrated = async () => {
      printSummary({ migrated: true });
      return EXIT_OK;
    };
    return withStore(config, log, migrated, { create: true });
  },
  db: async () => (await import('./db-command.js')).dbCommand,
  accounts: async () => (await import('./accounts-command.js')).accountsCommand,
  exports: async () => (await import('./exports-command.js')).exportsCommand,
  import: async () => (await import('./import-command.js')).importCommand,
  generate: async () => (await import('./generate-command.js')).generateCommand,
  admin: async () => {
    const { adminCommand } = await import('../admin/commands.js');
    return (argv, config, log) => adminCommand(argv, workerOf(config, log));
  },
  audit: async () => {
    const { auditCommand } = await import('../admin/commands.js');
    return (argv, config, log) => auditCommand(argv, workerOf(config, log));
  },
  cdrs: async () => {
    const { cdrsCommand } = await import('../lifecycle/commands.js');
    return (argv, config, log) => cdrsCommand(argv, config, log, workerOf(config, log));
  },
  trunks: async () => (await import('./trunks-command.js')).trunksCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'help' && Object.hasOwn(COMMANDS, rest[0] ?? '')) return printHelp(rest[0]);
  if (!command || command === '--help' || command === '-h' || command === 'help') return printHelp();
  if (command === '--version' || command === '-v' || command === 'version') {
    // src/cli/ and build/cli/ are both two levels below package.json.
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    printSummary({ cdrex: pkg.version, node: process.version });
    return EXIT_OK;
  }
  if (!Object.hasOwn(commands, command))
    throw new UsageError(`Unknown command "${command}". Run cdrex --help.`);
  if (rest.includes('--help') || rest.includes('-h')) return printHelp(command);
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  releaseHungUpTerminalsAtExit(); // after the logger: its flush at exit comes first
  const run = await commands[command]();
  return run(rest, config, log);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      printError({ error: err.message });
      process.exitCode = EXIT_USAGE;
      return;
    }
    printError({ error: (err as Error).message ?? String(err) });
    process.exitCode = EXIT_DATA;
  },
);
