// Forward-only SQL migrations from src/store/migrations/NNNNNN_name.sql.
// An advisory lock serialises concurrent migrators (several workers starting at once), and each
// migration runs in its own transaction with its version row, so it is applied exactly once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { LOCK } from './names.js';
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

/**
 * Runs `transaction` again (up to 5 times) when it failed with "tuple concurrently updated".
 * Roles are shared by every database of a cluster, and the migrations grant cdrex's roles
 * rights: on Citus each grant is sent to every node, where another process of another database
 * (a migration, or a cdrex starting and setting its roles' passwords) may be updating the same
 * role's row at that moment, and PostgreSQL then fails the later one instead of waiting. The
 * advisory lock above is per database and cannot prevent it. The transaction rolled back whole,
 * so running it again is safe.
 */
async function retryConcurrentCatalogUpdate(transaction: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await transaction();
      return;
    } catch (err) {
      const concurrent = /tuple concurrently updated/.test((err as Error).message ?? '');
      if (!concurrent || attempt >= 5) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200));
    }
  }
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
      try {
        await retryConcurrentCatalogUpdate(() =>
          inTransaction(client, async () => {
            await client.query('insert into schema_migrations (version, name) values ($1::int, $2::text)', [
              m.version,
              m.name,
            ]);
            await client.query(m.sql);
          }),
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
