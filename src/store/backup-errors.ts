// What `cdrex db dump` and `cdrex db restore` say when they refuse. Kept apart from backup.ts,
// whose every template is SQL, so no message is ever mistaken for (or turned into) SQL text.

/** The store cannot be dumped or restored as asked (its role, its contents, its version). */
export class BackupError extends Error {}

export const errors = {
  rowSecurity: (role: string, verb: 'Dump' | 'Restore') =>
    new BackupError(
      `The role ${role} does not bypass row-level security, so it would see only some rows. ` +
        `${verb} as a superuser, or give ${role} the BYPASSRLS attribute (docs/operations.md, "Backups").`,
    ),
  notAStore: () => new BackupError('This database holds no cdrex store (it has no schema_migrations table).'),
  cycle: (path: string[]) => new BackupError(`Foreign keys form a cycle: ${path.join(' -> ')}.`),
  dumpNewer: (dump: number, newest: number) =>
    new BackupError(
      `The dump has schema version ${dump}, newer than this cdrex knows (${newest}). ` +
        'Restore it with the cdrex version that made it, or a newer one.',
    ),
  storeNewer: (store: number, dump: number) =>
    new BackupError(
      `This store has schema version ${store}, newer than the dump's (${dump}). Restore into a new ` +
        'database or data directory, before any cdrex has started on it.',
    ),
  notEmpty: (tables: string[]) =>
    new BackupError(
      `This store is not empty: ${tables.join(', ')} hold rows. Restore into a new database or ` +
        'data directory; nothing was changed.',
    ),
  missingTable: (table: string) =>
    new BackupError(`The dump has a table ${table}, which this store's schema lacks.`),
  columnsDiffer: (table: string) =>
    new BackupError(`The columns of table ${table} in the dump differ from this store's.`),
};

export function gzipDamaged(message: string): string {
  return `The dump is damaged or cut short (gzip: ${message}).`;
}
