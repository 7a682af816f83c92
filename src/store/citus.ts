// Scale-out on Citus (docs/scale-out.md): `cdrex db distribute`, and with CDREX_CITUS=1 at every
// migration. The schema stays the one the migrations create on any PostgreSQL; distributing only
// tells Citus where each table lives:
// - `cdrs` is hash-distributed on account_id and keeps its monthly partitions, so every
//   per-account query (all of them carry `account_id = …`) is a router query on one shard;
// - the small global tables the others reference (accounts, API keys, callback secrets, operator
//   tokens) are reference tables, a copy on every node, so joins with them stay local;
// - exports, export_files and api_tokens stay on the coordinator as Citus local tables (their
//   foreign keys to accounts need that), and jobs, audit_log and schema_migrations stay plain
//   tables there: the job claim's FOR UPDATE SKIP LOCKED works on one node only, and none of
//   them is joined with cdrs.
// Immutable cdrex_* functions (masking, erasure) are evaluated on the workers inside router
// queries, so they are created there too.
import type pg from 'pg';
import type { Logger } from '../log.js';

export const REFERENCE_TABLES = ['accounts', 'api_keys', 'operator_tokens', 'callback_secrets'];
// api_tokens too: cdrex_app writes it, and a write to a reference table with a foreign key to
// another one locks that one's placements on every worker, which Citus permits only to a role
// that may write it (cdrex_app may only read accounts).
export const COORDINATOR_TABLES = ['exports', 'export_files', 'api_tokens'];
export const DEFAULT_SHARD_COUNT = 32;

// Another key than migrate's: several processes starting with CDREX_CITUS=1 distribute once.
const DISTRIBUTE_LOCK_KEY = 0x6364_7279;

/**
 * Citus moves a shard (citus_rebalance_start, citus_move_shard_placement) while writes go on by
 * logical replication, which needs a replica identity on every table it copies; cdrs has no
 * primary key, but its dedupe index is unique over NOT NULL columns, so each partition uses its
 * part of that. Partitions created since the last run get it on the next: `cdrex db distribute`
 * before a rebalance (docs/scale-out.md).
 */
const PARTITION_IDENTITY = `select c.relname as part, ic.relname as idx from pg_inherits pi
    join pg_class c on c.oid = pi.inhrelid
    join pg_index x on x.indrelid = c.oid
    join pg_inherits ii on ii.inhrelid = x.indexrelid and ii.inhparent = 'cdrs_dedupe'::regclass
    join pg_class ic on ic.oid = x.indexrelid
   where pi.inhparent = 'cdrs'::regclass and c.relreplident = 'd'`;
const REPLICA_IDENTITY_SQL = `do $$
declare
  r record;
begin
  for r in ${PARTITION_IDENTITY} loop
    execute format('alter table %I replica identity using index %I', r.part, r.idx);
  end loop;
end $$`;

/** Whether this database has the citus extension (created by the DBA, docs/scale-out.md). */
export async function isCitus(db: pg.Pool | pg.ClientBase): Promise<boolean> {
  const { rows } = await db.query("select 1 from pg_extension where extname = 'citus'");
  return rows.length > 0;
}

export class NotCitusError extends Error {}

export interface DistributeResult {
  /** What this call changed; empty when the store was distributed already. */
  distributed: string[];
  ms: number;
}

interface Placement {
  method: string;
  model: string;
}

async function placements(client: pg.ClientBase): Promise<Map<string, Placement>> {
  const { rows } = await client.query<{ name: string; method: string; model: string }>(
    `select logicalrelid::regclass::text as name, partmethod::text as method, repmodel::text as model
       from pg_dist_partition`,
  );
  return new Map(rows.map((r) => [r.name, { method: r.method, model: r.model }]));
}

/**
 * Distributes the store in place; idempotent (a table already placed is left alone). Run as the
 * owner after migrate(). Existing rows of `cdrs` are copied to the shards, then removed from the
 * coordinator's local tables.
 */
export async function distribute(
  pool: pg.Pool,
  log?: Logger,
  options: { shardCount?: number } = {},
): Promise<DistributeResult> {
  const started = Date.now();
  const client = await pool.connect();
  const distributed: string[] = [];
  try {
    if (!(await isCitus(client))) {
      throw new NotCitusError(
        'This database has no citus extension: create it (and register the worker nodes) first, see docs/scale-out.md.',
      );
    }
    await client.query('select pg_advisory_lock($1::bigint)', [DISTRIBUTE_LOCK_KEY]);
    try {
      // Notices about tables Citus adds to its metadata on its own are expected here.
      await client.query("set client_min_messages = 'warning'");
      let placed = await placements(client);
      // First the coordinator tables, with every table their foreign keys reach (accounts): so
      // Citus records them as chosen, not as converted automatically (which it may undo).
      for (const table of COORDINATOR_TABLES) {
        if (placed.has(table)) continue;
        await client.query(
          'select citus_add_local_table_to_metadata($1::regclass, cascade_via_foreign_keys => true)',
          [table],
        );
        distributed.push(`${table}: coordinator`);
        placed = await placements(client);
      }
      for (const table of REFERENCE_TABLES) {
        const p = placed.get(table);
        if (p && p.method === 'n' && p.model === 't') continue;
        await client.query('select create_reference_table($1::regclass)', [table]);
        distributed.push(`${table}: reference`);
      }
      const { rows: functions } = await client.query<{ signature: string }>(
        `select p.oid::regprocedure::text as signature from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
          where n.nspname = 'public' and p.proname like 'cdrex\\_%' and p.provolatile = 'i'
            and not exists (select 1 from pg_dist_object o
                             where o.classid = 'pg_proc'::regclass and o.objid = p.oid)`,
      );
      for (const f of functions) {
        await client.query('select create_distributed_function($1::regprocedure)', [f.signature]);
        distributed.push(`${f.signature}: function`);
      }
      if (!placed.has('cdrs')) {
        await client.query("select create_distributed_table('cdrs', 'account_id', shard_count => $1::int)", [
          options.shardCount ?? DEFAULT_SHARD_COUNT,
        ]);
        // The rows were copied to the shards; the coordinator's own copies are now dead weight.
        await client.query("select truncate_local_data_after_distributing_table('cdrs')");
        distributed.push('cdrs: distributed on account_id');
      }
      const { rowCount: missing } = await client.query(PARTITION_IDENTITY);
      if (missing) {
        await client.query(REPLICA_IDENTITY_SQL);
        distributed.push(`month partitions given a replica identity: ${missing}`);
      }
    } finally {
      await client.query('reset client_min_messages').catch(() => {});
      await client.query('select pg_advisory_unlock($1::bigint)', [DISTRIBUTE_LOCK_KEY]).catch(() => {});
    }
    const ms = Date.now() - started;
    if (distributed.length > 0) log?.info({ distributed, ms }, 'store distributed on citus');
    return { distributed, ms };
  } finally {
    client.release();
  }
}
