// `cdrex db dump` and `cdrex db restore` (docs/operations.md, "Backups"). The embedded package
// ships no pg_dump, so a dump is COPY of every table of the schema under one REPEATABLE READ
// snapshot, in the format of dump-format.ts. Every statement naming a table or a column is
// written by the server, with format('%I'), from names it finds in its own catalog: names read
// from a dump file are only looked up, as bind parameters.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type pg from 'pg';
import { inTransaction, releaseClient, withTransaction } from './transaction.js';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import {
  countLines,
  DumpFileError,
  FORMAT,
  FORMAT_VERSION,
  jsonLine,
  readDump,
  TABLE_END,
  type DumpEvent,
  type DumpHeader,
} from './dump-format.js';
import { listMigrations, migrate } from './migrate.js';
import { ensureMonthPartitions, partitionNames } from './partitions.js';

import { errors, gzipDamaged } from './backup-errors.js';

export { BackupError } from './backup-errors.js';
export { DumpFileError } from './dump-format.js';

/** Settings both sides share, so every value is written and read the same way. Row-level
 * security off: the tables force it on their owner too, and a dump must see every account's
 * rows; with it off, a role that would be filtered gets an error instead of a partial dump. */
const SESSION_SETTINGS = [
  "set local timezone = 'UTC'",
  "set local datestyle = 'ISO, YMD'",
  "set local intervalstyle = 'postgres'",
  "set local bytea_output = 'hex'",
  'set local extra_float_digits = 3',
  'set local row_security = off',
  'set local statement_timeout = 0',
  'set local idle_in_transaction_session_timeout = 0',
];

interface TablePlan {
  name: string;
  columns: string[];
  refs: string[];
  copyOut: string;
}

/** The schema's tables (partitions excluded: cdrs is read through its parent), their stored
 * columns, the tables their foreign keys name, and the COPY that reads each. schema_migrations
 * is not data: restore rebuilds it by migrating. */
const TABLES_SQL = `
  select c.relname::text as name,
         array(select a.attname::text from pg_attribute a
                where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
                order by a.attnum) as columns,
         array(select distinct r.relname::text from pg_constraint f join pg_class r on r.oid = f.confrelid
                where f.conrelid = c.oid and f.contype = 'f' and f.confrelid <> c.oid) as refs,
         format('copy (select %s from %I.%I) to stdout',
                (select string_agg(quote_ident(a.attname), ', ' order by a.attnum) from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''),
                n.nspname, c.relname) as "copyOut"
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
     and c.relname <> 'schema_migrations'
   order by c.relname`;

/** Tables in an order where each comes after the ones it references. */
export function dependencyOrder<T extends { name: string; refs: string[] }>(tables: T[]): T[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const ordered: T[] = [];
  const visit = (t: T, path: string[]) => {
    if (done.has(t.name)) return;
    if (path.includes(t.name)) throw errors.cycle([...path, t.name]);
    for (const ref of t.refs) {
      const target = byName.get(ref);
      if (target) visit(target, [...path, t.name]);
    }
    done.add(t.name);
    ordered.push(t);
  };
  for (const t of tables) visit(t, []);
  return ordered;
}

async function mayReadEveryRow(client: pg.ClientBase): Promise<{ ok: boolean; role: string }> {
  const { rows } = await client.query<{ ok: boolean; role: string }>(
    `select r.rolsuper or r.rolbypassrls as ok, r.rolname::text as role
       from pg_roles r where r.rolname = current_user`,
  );
  return rows[0];
}

async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const found = await client.query<{ present: boolean }>(
    `select to_regclass('schema_migrations') is not null as present`,
  );
  if (!found.rows[0].present) return 0;
  const { rows } = await client.query<{ v: number | null }>(
    'select max(version) as v from schema_migrations',
  );
  return rows[0].v ?? 0;
}

async function sequences(client: pg.ClientBase): Promise<DumpHeader['sequences']> {
  const { rows } = await client.query<{ name: string; last_value: string | null }>(
    `select c.relname::text as name, pg_sequence_last_value(c.oid)::text as last_value
       from pg_class c where c.relkind = 'S' and c.relnamespace = current_schema()::regnamespace
      order by c.relname`,
  );
  return rows;
}

/** Month partitions of cdrs as YYYY-MM (the DEFAULT one is restored by migrating). */
async function monthPartitions(client: pg.ClientBase): Promise<string[]> {
  return [...(await partitionNames(client as pg.PoolClient))]
    .filter((n) => /^cdrs_\d{4}_\d{2}$/.test(n))
    .map((n) => `${n.slice(5, 9)}-${n.slice(10, 12)}`)
    .sort();
}

async function write(out: NodeJS.WritableStream, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

export interface DumpResult {
  file: string;
  schema_version: number;
  tables: number;
  rows: number;
  /** Size of the compressed file. */
  bytes: number;
}

export interface DumpOptions {
  /** Rows written so far of the table being dumped (for a progress line). */
  onProgress?: (table: string, rows: number, done: boolean) => void;
}

/**
 * Writes every table of the store to `file` (gzip), read in one REPEATABLE READ READ ONLY
 * transaction so the tables agree with each other while cdrex keeps writing. The client must
 * be the owner's, as a superuser or a BYPASSRLS role. The file appears whole or not at all:
 * written to FILE.tmp (mode 0600: it holds key hashes and ciphertexts), fsynced, renamed.
 * Kept whole on purpose: the snapshot transaction, the gzip pipeline and the fsync + rename are
 * one all-or-nothing write, read together.
 */
export async function dumpStore(client: pg.ClientBase, file: string, options: DumpOptions = {}) {
  const tmp = `${file}.tmp`;
  const gzip = zlib.createGzip({ level: 6 });
  const written = pipeline(gzip, fs.createWriteStream(tmp, { mode: 0o600 }));
  written.catch(() => {}); // awaited below; an early failure must not go unhandled meanwhile
  try {
    const reader = await mayReadEveryRow(client);
    if (!reader.ok) throw errors.rowSecurity(reader.role, 'Dump');
    const { version, tables, total } = await inTransaction(
      client,
      async () => {
        for (const setting of SESSION_SETTINGS) await client.query(setting);
        // The first query takes the snapshot; sequences are read after it, so no row it shows has
        // an id above the value saved.
        const version = await schemaVersion(client);
        if (version === 0) throw errors.notAStore();
        const { rows: found } = await client.query<TablePlan>(TABLES_SQL);
        const tables = dependencyOrder(found);
        const header: DumpHeader = {
          format: FORMAT,
          format_version: FORMAT_VERSION,
          schema_version: version,
          postgres: (await client.query<{ v: string }>(`select current_setting('server_version') as v`))
            .rows[0].v,
          created_at: new Date().toISOString(),
          tables: tables.map((t) => t.name),
          partitions: await monthPartitions(client),
          sequences: await sequences(client),
        };
        await write(gzip, jsonLine(header));
        let total = 0;
        for (const t of tables) {
          await write(gzip, jsonLine({ table: t.name, columns: t.columns }));
          let rows = 0;
          const copy = client.query(copyTo(t.copyOut));
          for await (const chunk of copy as AsyncIterable<Buffer>) {
            rows += countLines(chunk);
            options.onProgress?.(t.name, rows, false);
            await write(gzip, chunk);
          }
          options.onProgress?.(t.name, rows, true);
          await write(gzip, TABLE_END);
          await write(gzip, jsonLine({ table: t.name, rows }));
          total += rows;
        }
        await write(gzip, jsonLine({ end: true, tables: tables.length, rows: total }));
        return { version, tables, total };
      },
      'begin isolation level repeatable read read only',
    );
    gzip.end();
    await written;
    const size = await syncFile(tmp);
    await fs.promises.rename(tmp, file);
    await syncDirectory(path.dirname(file));
    return { file, schema_version: version, tables: tables.length, rows: total, bytes: size };
  } catch (err) {
    gzip.destroy();
    await written.catch(() => {});
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** Flushes a written file to disk; returns its size. */
async function syncFile(file: string): Promise<number> {
  const handle = await fs.promises.open(file, 'r+');
  try {
    await handle.sync();
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** Makes the rename itself durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The dump's events, gunzipped; gzip's own errors (a cut or corrupted file) become DumpFileError. */
async function* dumpEvents(file: string): AsyncGenerator<DumpEvent> {
  const gunzip = zlib.createGunzip();
  const source = fs.createReadStream(file);
  const piped = pipeline(source, gunzip).catch((err: Error) => {
    gunzip.destroy(err);
  });
  try {
    yield* readDump(gunzip as AsyncIterable<Buffer>);
  } catch (err) {
    if (err instanceof DumpFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_'))
      throw new DumpFileError(gzipDamaged((err as Error).message));
    throw err;
  } finally {
    source.destroy();
    gunzip.destroy();
    await piped;
  }
}

/** Reads the whole file once, checking its structure and counts; returns its header. Nothing
 * is touched before a dump has passed this. */
export async function checkDump(file: string): Promise<DumpHeader> {
  let header: DumpHeader | undefined;
  for await (const event of dumpEvents(file)) if (event.kind === 'header') header = event.header;
  return header!;
}

/** Tables that hold a row, among the schema's (any row at all: a restore needs an empty store). */
async function tablesWithRows(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select c.relname::text as name from pg_class c
      where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p')
        and not c.relispartition and c.relname <> 'schema_migrations'
        and (xpath('/row/x/text()', query_to_xml(
               format('select exists (select 1 from %I.%I) as x', current_schema(), c.relname),
               false, true, '')))[1]::text = 'true'
      order by c.relname`,
  );
  return rows.map((r) => r.name);
}

/** The COPY … FROM statement for one dumped table, written by the server from its catalog; the
 * dump's names must be exactly the table's stored columns. */
async function copyInStatement(client: pg.ClientBase, table: string, columns: string[]): Promise<string> {
  const { rows } = await client.query<{ sql: string; matched: string; stored: string }>(
    `select format('copy %I.%I (%s) from stdin', n.nspname, c.relname,
                   string_agg(quote_ident(a.attname), ', ' order by u.ord)) as sql,
            count(a.attname) as matched,
            (select count(*) from pg_attribute s where s.attrelid = c.oid and s.attnum > 0
                and not s.attisdropped and s.attgenerated = '') as stored
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       cross join unnest($2::text[]) with ordinality as u(name, ord)
       left join pg_attribute a on a.attrelid = c.oid and a.attname = u.name and a.attnum > 0
                               and not a.attisdropped and a.attgenerated = ''
      where n.nspname = current_schema() and c.relname = $1::text and c.relkind in ('r', 'p')
        and not c.relispartition
      group by n.nspname, c.relname, c.oid`,
    [table, columns],
  );
  const plan = rows[0];
  if (!plan) throw errors.missingTable(table);
  if (Number(plan.matched) !== columns.length || Number(plan.stored) !== columns.length)
    throw errors.columnsDiffer(table);
  return plan.sql;
}

async function loadRows(
  client: pg.ClientBase,
  sql: string,
  events: AsyncGenerator<DumpEvent>,
  onRows: (rows: number) => void,
) {
  let rows = 0;
  const copy = client.query(copyFrom(sql));
  const done = new Promise<void>((resolve, reject) => {
    copy.on('finish', resolve);
    copy.on('error', reject);
  });
  done.catch(() => {}); // awaited below
  for (;;) {
    const next = await events.next();
    if (next.done) throw new DumpFileError('The dump is cut short.');
    const event = next.value;
    if (event.kind === 'rows') {
      rows += countLines(event.chunk);
      onRows(rows);
      if (!copy.write(event.chunk)) await Promise.race([once(copy, 'drain'), done]);
      continue;
    }
    copy.end();
    await done;
    return event;
  }
}

export interface RestoreResult {
  file: string;
  schema_version: number;
  tables: number;
  rows: number;
  /** The newest migration after the restore (the dump's, then this cdrex's newer ones). */
  migrated_to: number;
}

/**
 * Loads a dump into an empty store. The file is read twice: once to check it whole (so a
 * damaged file changes nothing, not even the schema), then to load it. The schema is migrated
 * to the dump's version, the dump's month partitions are created, every table is loaded with
 * COPY in one transaction (all or nothing) and the sequences are set; then the migrations this
 * cdrex has beyond the dump's run. The pool is the owner's (a superuser or BYPASSRLS role).
 */
export async function restoreStore(
  pool: pg.Pool,
  file: string,
  options: { onProgress?: (table: string, rows: number, done: boolean) => void } = {},
): Promise<RestoreResult> {
  const header = await checkDump(file);
  const newest = Math.max(0, ...listMigrations().map((m) => m.version));
  if (header.schema_version > newest) throw errors.dumpNewer(header.schema_version, newest);
  const client = await pool.connect();
  try {
    const reader = await mayReadEveryRow(client);
    if (!reader.ok) throw errors.rowSecurity(reader.role, 'Restore');
    const filled = await tablesWithRows(client);
    if (filled.length > 0) throw errors.notEmpty(filled);
    const current = await schemaVersion(client);
    if (current > header.schema_version) throw errors.storeNewer(current, header.schema_version);
  } finally {
    client.release();
  }
  await migrate(pool, undefined, { upTo: header.schema_version });
  await ensureMonthPartitions(
    pool,
    header.partitions.map((m) => new Date(`${m}-01T00:00:00Z`)),
  );
  const loaded = await loadInTransaction(pool, file, options);
  const applied = await migrate(pool);
  return {
    file,
    schema_version: header.schema_version,
    tables: loaded.tables,
    rows: loaded.rows,
    migrated_to: applied.length > 0 ? Math.max(...applied) : header.schema_version,
  };
}

async function loadInTransaction(
  pool: pg.Pool,
  file: string,
  options: { onProgress?: (table: string, rows: number, done: boolean) => void },
): Promise<{ tables: number; rows: number }> {
  const client = await pool.connect();
  const events = dumpEvents(file);
  try {
    return await inTransaction(client, async () => {
      for (const setting of SESSION_SETTINGS) await client.query(setting);
      // Nobody else may write between the emptiness check and the commit.
      const filled = await tablesWithRows(client);
      if (filled.length > 0) throw errors.notEmpty(filled);
      let header: DumpHeader | undefined;
      for (;;) {
        const next = await events.next();
        if (next.done) throw new DumpFileError('The dump is cut short.');
        const event = next.value;
        if (event.kind === 'header') header = event.header;
        else if (event.kind === 'table') {
          const sql = await copyInStatement(client, event.table.table, event.table.columns);
          const name = event.table.table;
          options.onProgress?.(name, 0, false);
          const end = await loadRows(client, sql, events, (rows) => options.onProgress?.(name, rows, false));
          if (end.kind === 'table-end') options.onProgress?.(end.table, end.rows, true);
        } else if (event.kind === 'end') {
          for (const seq of header!.sequences) {
            if (seq.last_value === null) continue;
            await client.query(
              `select setval(format('%I.%I', current_schema(), $1::text)::regclass, $2::bigint, true)`,
              [seq.name, seq.last_value],
            );
          }
          return { tables: event.tables, rows: event.rows };
        }
      }
    });
  } finally {
    await events.return(undefined).catch(() => {});
    releaseClient(client);
  }
}

/** One API key ciphertext of the restored store, to tell whether this master key opens it. */
export async function sampleKeyCiphertext(pool: pg.Pool): Promise<Buffer | undefined> {
  return withTransaction(pool, async (client) => {
    await client.query('set local row_security = off');
    const { rows } = await client.query<{ c: Buffer }>(
      'select key_ciphertext as c from api_keys order by account_id limit 1',
    );
    return rows[0]?.c;
  });
}
