// A database of the test file's own on the run's PostgreSQL server, migrated, dropped at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { after } from 'node:test';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';
import { ensureDefaultPartitions } from '../../src/store/partitions.js';

export function serverUrl(): string {
  const url = process.env.CDREX_TEST_SERVER_URL ?? process.env.DATABASE_URL;
  if (!url) throw new Error('Run the tests with `npm test` (it provides the PostgreSQL server).');
  return url;
}

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
}

/** Creates a fresh database for this test file; it is dropped when the file's tests end. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `cdrex_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  const pool = createPool(url.toString());
  await migrate(pool);
  await ensureDefaultPartitions(pool);
  after(async () => {
    await pool.end();
    const cleanup = new pg.Client({ connectionString: serverUrl() });
    await cleanup.connect();
    await cleanup.query(`drop database if exists ${name} with (force)`);
    await cleanup.end();
  });
  return { url: url.toString(), pool };
}

/** Row counts of every table, to show a rejected request changed nothing. */
export async function tableCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const tables = ['accounts', 'api_keys', 'cdrs', 'exports', 'export_files', 'jobs'];
  const counts: Record<string, number> = {};
  for (const t of tables) counts[t] = Number((await pool.query(`select count(*) as n from ${t}`)).rows[0].n);
  return counts;
}
