// A database of the test file's own on the run's PostgreSQL server, migrated, dropped at the end.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { after } from 'node:test';
import { distribute, isCitus } from '../../src/store/citus.js';
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

interface Node {
  host: string;
  port: number;
}

/** The worker nodes registered on the run's server when it is a Citus coordinator (cluster.sh
 * registers them in its `postgres` database), else undefined. */
async function citusWorkers(admin: pg.Client): Promise<Node[] | undefined> {
  if (!(await isCitus(admin))) return undefined;
  const { rows } = await admin.query<{ host: string; port: number }>(
    "select nodename as host, nodeport as port from pg_dist_node where noderole = 'primary' and groupid <> 0",
  );
  return rows;
}

/** Citus metadata is per database: the extension on every node, then the nodes registered. */
async function prepareCitusDatabase(url: URL, workers: Node[]): Promise<void> {
  const nodes = [{ host: url.hostname, port: Number(url.port || 5432) }, ...workers];
  for (const node of nodes) {
    const nodeUrl = new URL(url);
    nodeUrl.hostname = node.host;
    nodeUrl.port = String(node.port);
    const client = new pg.Client({ connectionString: nodeUrl.toString() });
    await client.connect();
    await client.query("set client_min_messages = 'warning'; create extension if not exists citus");
    await client.end();
  }
  const coordinator = new pg.Client({ connectionString: url.toString() });
  await coordinator.connect();
  await coordinator.query('select citus_set_coordinator_host($1::text, $2::int)', [
    nodes[0].host,
    nodes[0].port,
  ]);
  for (const w of workers)
    await coordinator.query('select citus_add_node($1::text, $2::int)', [w.host, w.port]);
  await coordinator.end();
}

/** Drops the database on one node (the run's server when undefined), retrying while the
 * database is still in use (Citus's daemons may reconnect between the FORCE and the drop). */
async function dropDatabase(name: string, node?: Node): Promise<void> {
  const nodeUrl = new URL(serverUrl());
  if (node) {
    nodeUrl.hostname = node.host;
    nodeUrl.port = String(node.port);
  }
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: nodeUrl.toString() });
    await client.connect();
    try {
      await client.query(`drop database if exists ${name} with (force)`);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 10) throw err;
    } finally {
      await client.end();
    }
    await new Promise((r) => setTimeout(r, 200));
  }
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

/** Whether the run's server is a Citus coordinator (test/run.ts makes no template there). */
export async function serverIsCitus(): Promise<boolean> {
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    return (await citusWorkers(admin)) !== undefined;
  } finally {
    await admin.end();
  }
}

/**
 * Creates `name` and brings it to the newest schema with this month's partitions: a clone of
 * `template`, or migrated. On a Citus coordinator it is never a clone (Citus metadata is per
 * database, on every node): it is prepared on every node, migrated and distributed, as
 * CDREX_CITUS=1 would make it, on 4 shards (not 32) to keep each file's setup short.
 */
export async function createMigratedDatabase(
  name: string,
  template?: string,
): Promise<{ url: string; workers?: Node[] }> {
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  let workers: Node[] | undefined;
  try {
    workers = await citusWorkers(admin);
    if (workers) await admin.query('set citus.enable_create_database_propagation = on');
    const clone = template && !workers;
    await admin.query(clone ? `create database ${name} template ${template}` : `create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  if (workers) await prepareCitusDatabase(url, workers);
  if (!template || workers) {
    // The roles must exist before the migrations grant them anything.
    await resolveRoles({ ownerUrl: url.toString(), dataDir: rolesDir });
    const pool = createPool(url.toString());
    try {
      await migrate(pool);
      if (workers) await distribute(pool, undefined, { shardCount: 4 });
      await ensureDefaultPartitions(pool);
    } finally {
      await pool.end();
    }
  }
  return { url: url.toString(), workers };
}

/** Creates a fresh database for this test file; it is dropped when the file's tests end. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `cdrex_test_${randomBytes(6).toString('hex')}`;
  const created = await createMigratedDatabase(name, templateName());
  const url = new URL(created.url);
  const { workers } = created;
  const roles = await resolveRoles({ ownerUrl: url.toString(), dataDir: rolesDir });
  const pool = createPool(url.toString());
  // A no-op on a fresh clone, unless the month turned since the template was made.
  await ensureDefaultPartitions(pool);
  const app = createPool(roles.app);
  const worker = createPool(roles.worker);
  after(async () => {
    await Promise.all([pool.end(), app.end(), worker.end()]);
    // On Citus, node by node: a propagated DROP is not forced on the workers, where the other
    // nodes' maintenance connections may still be open, and fails there.
    const nodes = workers
      ? [{ host: url.hostname, port: Number(url.port || 5432) }, ...workers]
      : [undefined];
    for (const node of nodes) await dropDatabase(name, node);
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
