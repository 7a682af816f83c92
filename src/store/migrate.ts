// Forward-only SQL migrations from src/store/migrations/NNNNNN_name.sql.
// An advisory lock serialises concurrent migrators (several workers starting at once), and each
// migration runs in its own transaction with its version row, so it is applied exactly once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { LOCK } from './names.js';
import { isCatalogRace, retrying } from './retry.js';
import { inTransaction, releaseClient } from './transaction.js';
import type { Logger } from '../log.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return fs
    .readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{6}_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 6)),
      name: file.slice(7, -4),
      sql: fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8'),
    }));
}

/** Applies what the database lacks, or only up to `upTo` (a restore loads a dump into the
 * schema it was taken from, then migrates on). */
export async function migrate(
  pool: pg.Pool,
  log?: Logger,
  options: { upTo?: number } = {},
): Promise<number[]> {
  const migrations = listMigrations();
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('select pg_advisory_lock($1::bigint)', [LOCK.migrate]);
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number }>('select version from schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...migrations.map((m) => m.version));
    const ahead = rows.filter((r) => r.version > newest);
    if (ahead.length > 0) {
      throw new Error(
        `The database has migration ${Math.max(...ahead.map((r) => r.version))}, newer than this cdrex ` +
          `(${newest}). Upgrade cdrex before running it against this database.`,
      );
    }
    for (const m of migrations) {
      if (done.has(m.version) || m.version > (options.upTo ?? Infinity)) continue;
      // A migration that grants cdrex's roles rights may lose a race on the role's row to another
      // database's process (on Citus, on any node; src/store/retry.ts), which the advisory lock,
      // per database, cannot prevent. Its transaction rolled back whole: it is run again.
      try {
        await retrying(
          () =>
            inTransaction(client, async () => {
              await client.query('insert into schema_migrations (version, name) values ($1::int, $2::text)', [
                m.version,
                m.name,
              ]);
              await client.query(m.sql);
            }),
          isCatalogRace,
        );
      } catch (err) {
        throw new Error(`Migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      applied.push(m.version);
      log?.info({ migration: m.version, migrationName: m.name }, 'migration applied');
    }
  } finally {
    await client.query('select pg_advisory_unlock($1::bigint)', [LOCK.migrate]).catch(() => {});
    releaseClient(client);
  }
  return applied;
}
