// A database of the test file's own on the run's PostgreSQL server, migrated, dropped at the end.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { after } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { ensureDefaultPartitions } from '../../src/store/partitions.js';
import { resolveRoles, type RoleUrls } from '../../src/store/roles.js';

/** Where role passwords live when the server's URL has none (trust auth): one directory for the
 * whole run (test/run.ts passes its own), so files running at once set the same passwords. */
export const rolesDir =
  process.env.CDREX_TEST_ROLES_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-roles-'));

export function serverUrl(): string {
  const url = process.env.CDREX_TEST_SERVER_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('Run the tests with `npm test` (it provides the PostgreSQL server).');
  return url;
}

export interface TestDatabase {
  /** The owner's URL (what DATABASE_URL would be). */
  url: string;
  /** The owner's pool: tests seed and inspect through it, around row-level security. */
  pool: pg.Pool;
  roles: RoleUrls;
  /** cdrex_app and cdrex_worker, as the service connects. */
  app: pg.Pool;
  worker: pg.Pool;
}

/** The migrated database `npm test` made once for the run (test/run.ts), if any: cloning it takes
 * a fraction of the time migrating a new database does. A file run on its own migrates. */
function templateName(): string | undefined {
  const name = process.env.CDREX_TEST_TEMPLATE;
  if (name === undefined || name === '') return undefined;
  // It becomes SQL text: only the shape test/run.ts gives it.
  if (!/^cdrex_template_[0-9a-f]{12}$/.test(name)) throw new Error(`CDREX_TEST_TEMPLATE ${name}?`);
  return name;
}

/** Creates `name` and brings it to the newest schema with this month's partitions. */
export async function createMigratedDatabase(name: string, template?: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(template ? `create database ${name} template ${template}` : `create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  if (!template) {
    // The roles must exist before the migrations grant them anything.
    await resolveRoles({ ownerUrl: url.toString(), dataDir: rolesDir });
    const pool = createPool(url.toString());
    try {
      await migrate(pool);
      await ensureDefaultPartitions(pool);
    } finally {
      await pool.end();
    }
  }
  return url.toString();
}

/** Creates a fresh database for this test file; it is dropped when the file's tests end. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `cdrex_test_${randomBytes(6).toString('hex')}`;
  const url = new URL(await createMigratedDatabase(name, templateName()));
  const roles = await resolveRoles({ ownerUrl: url.toString(), dataDir: rolesDir });
  const pool = createPool(url.toString());
  // A no-op on a fresh clone, unless the month turned since the template was made.
  await ensureDefaultPartitions(pool);
  const app = createPool(roles.app);
  const worker = createPool(roles.worker);
  after(async () => {
    await Promise.all([pool.end(), app.end(), worker.end()]);
    const cleanup = new pg.Client({ connectionString: serverUrl() });
    await cleanup.connect();
    await cleanup.query(`drop database if exists ${name} with (force)`);
    await cleanup.end();
  });
  return { url: url.toString(), pool, roles, app, worker };
}

/** Row counts of every table, to show a rejected request changed nothing. */
export async function tableCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const tables = ['accounts', 'api_keys', 'cdrs', 'exports', 'export_files', 'jobs'];
  const counts: Record<string, number> = {};
  for (const t of tables) counts[t] = Number((await pool.query(`select count(*) as n from ${t}`)).rows[0].n);
  return counts;
}
