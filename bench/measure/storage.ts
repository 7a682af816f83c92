import type pg from 'pg';

export interface Storage {
  rows: number;
  table: number;
  indexes: number;
  toast: number;
  perCdr: number;
  perIndex: string[];
}

/**
 * Bytes on disk per stored CDR, over every partition of cdrs: the table's heap (with its free
 * space and visibility maps), its indexes, and its TOAST tables (with their indexes).
 */
export async function storageBreakdown(pool: pg.Pool): Promise<Storage> {
  const { rows } = await pool.query<{ n: string; heap: string; indexes: string; toast: string }>(
    `select (select count(*) from cdrs) as n,
       coalesce(sum(pg_table_size(c.oid) - coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)), 0) as heap,
       coalesce(sum(pg_indexes_size(c.oid)), 0) as indexes,
       coalesce(sum(pg_total_relation_size(nullif(c.reltoastrelid, 0))), 0) as toast
     from pg_partition_tree('cdrs') t join pg_class c on c.oid = t.relid where t.isleaf`,
  );
  const n = Math.max(1, Number(rows[0].n));
  const [table, indexes, toast] = [rows[0].heap, rows[0].indexes, rows[0].toast].map((b) => Number(b) / n);
  // Each index of cdrs over all partitions, largest first: what each costs per CDR.
  const each = await pool.query<{ name: string; bytes: string }>(
    `select pg_partition_root(i.indexrelid)::regclass::text as name, sum(pg_relation_size(i.indexrelid)) as bytes
       from pg_index i join pg_partition_tree('cdrs') t on t.relid = i.indrelid
      where t.isleaf group by 1 order by 2 desc`,
  );
  const perIndex = each.rows.map((r) => `${r.name} ${(Number(r.bytes) / n).toFixed(0)}`);
  return { rows: n, table, indexes, toast, perCdr: table + indexes + toast, perIndex };
}
