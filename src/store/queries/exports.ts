// Exports and their files.
import type pg from 'pg';
import { withTransaction } from '../transaction.js';
import type { AccountDb, Queryable } from '../account-db.js';
import type { CdrKind } from './cdrs.js';
import { enqueueJob } from './jobs.js';
import { LOCK, TASK } from '../names.js';

export type ExportCollection = 'exports' | 'cdr_exports';
export type ExportStatus = 'pending' | 'processing' | 'completed' | 'failed';

export interface ExportRow {
  id: string;
  account_id: string;
  dialect: ExportCollection;
  export_type: CdrKind;
  filters: Record<string, unknown>;
  range_from: Date;
  range_to: Date;
  did_number: string | null;
  voice_out_trunk_id: string | null;
  status: ExportStatus;
  callback_url: string | null;
  callback_method: 'GET' | 'POST' | null;
  external_reference_id: string | null;
  created_at: Date;
  completed_at: Date | null;
  row_count: string | null;
  /** The live file's id (null until completed, and again once retention deleted the file). */
  file_id: string | null;
  file_name: string | null;
  /** The live file's size in bytes (bigint as text), null without one. */
  file_size: string | null;
}

export interface NewExport {
  id: string;
  accountId: string;
  dialect: ExportCollection;
  exportType: CdrKind;
  filters: Record<string, unknown>;
  rangeFrom: Date;
  rangeTo: Date;
  didNumber?: string;
  voiceOutTrunkId?: string;
  callbackUrl?: string;
  callbackMethod?: 'GET' | 'POST';
  externalReferenceId?: string;
  /** The creating request's id, kept in the job's payload for the worker's log lines. */
  requestId?: string;
}

const EXPORT_COLUMNS = `e.id, e.account_id, e.dialect, e.export_type, e.filters, e.range_from, e.range_to,
  e.did_number, e.voice_out_trunk_id, e.status, e.callback_url, e.callback_method, e.external_reference_id,
  e.created_at, e.completed_at, e.row_count, f.id as file_id, f.file_name, f.size as file_size`;
const EXPORT_FROM = 'exports e left join export_files f on f.export_id = e.id and f.deleted_at is null';

/** The account already has its cap of unfinished exports; nothing was written. */
export class PendingExportsLimitError extends Error {
  constructor(readonly limit: number) {
    super(`The account already has ${limit} exports pending or processing.`);
  }
}

/**
 * Inserts the export and its job in one transaction: no export without a job to run it. With
 * `maxPending`, refuses (PendingExportsLimitError) when the account already has that many
 * pending or processing exports. Creates of one account wait for each other on an advisory lock,
 * so each one's count (a fresh snapshot under READ COMMITTED) includes the others' rows: the cap
 * holds under concurrent creates.
 */
export async function createExport(
  db: AccountDb,
  input: NewExport,
  limits: { maxPending?: number } = {},
): Promise<ExportRow> {
  return db.transaction(async (client) => {
    if (limits.maxPending !== undefined) {
      await client.query('select pg_advisory_xact_lock($1::int, hashtext($2::text))', [
        LOCK.pendingExports,
        input.accountId,
      ]);
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from exports
          where account_id = $1::text and status in ('pending', 'processing')`,
        [input.accountId],
      );
      if (rows[0].n >= limits.maxPending) throw new PendingExportsLimitError(limits.maxPending);
    }
    await client.query(
      `insert into exports (id, account_id, dialect, export_type, filters, range_from, range_to, did_number,
         voice_out_trunk_id, callback_url, callback_method, external_reference_id)
       values ($1::uuid, $2::text, $3::text, $4::text, $5::jsonb, $6::timestamptz, $7::timestamptz, $8::text,
         $9::text, $10::text, $11::text, $12::text)`,
      [
        input.id,
        input.accountId,
        input.dialect,
        input.exportType,
        input.filters,
        input.rangeFrom,
        input.rangeTo,
        input.didNumber ?? null,
        input.voiceOutTrunkId ?? null,
        input.callbackUrl ?? null,
        input.callbackMethod ?? null,
        input.externalReferenceId ?? null,
      ],
    );
    const payload = { export_id: input.id, ...(input.requestId ? { request_id: input.requestId } : {}) };
    await enqueueJob(client, TASK.export, payload, { accountId: input.accountId });
    const row = await findExport(client, input.accountId, input.dialect, input.id);
    return row!;
  });
}

export async function findExport(
  db: Queryable,
  accountId: string,
  dialect: ExportCollection,
  id: string,
): Promise<ExportRow | undefined> {
  const { rows } = await db.query<ExportRow>(
    `select ${EXPORT_COLUMNS} from ${EXPORT_FROM}
      where e.id = $1::uuid and e.account_id = $2::text and e.dialect = $3::text`,
    [id, accountId, dialect],
  );
  return rows[0];
}

/** For workers: the export whatever its account. */
export async function loadExport(db: pg.Pool | pg.PoolClient, id: string): Promise<ExportRow | undefined> {
  const { rows } = await db.query<ExportRow>(
    `select ${EXPORT_COLUMNS} from ${EXPORT_FROM} where e.id = $1::uuid`,
    [id],
  );
  return rows[0];
}

export type ExportSort = 'status' | 'created_at' | '-status' | '-created_at';

// Status sorts by lifecycle (pending, processing, completed), not alphabetically.
const ORDER_BY: Record<ExportSort, string> = {
  status:
    "array_position(array['pending','processing','completed','failed'], e.status) asc, e.created_at asc, e.id",
  '-status':
    "array_position(array['pending','processing','completed','failed'], e.status) desc, e.created_at desc, e.id",
  created_at: 'e.created_at asc, e.id',
  '-created_at': 'e.created_at desc, e.id',
};

export interface ListExportsQuery {
  accountId: string;
  dialect: ExportCollection;
  sort: ExportSort;
  pageNumber: number;
  pageSize: number;
  externalReferenceId?: string;
}

export async function listExports(
  pool: Queryable,
  q: ListExportsQuery,
): Promise<{ rows: ExportRow[]; total: number }> {
  const where = `e.account_id = $1::text and e.dialect = $2::text
    and ($3::text is null or e.external_reference_id = $3::text)`;
  const params = [q.accountId, q.dialect, q.externalReferenceId ?? null];
  const [page, count] = await Promise.all([
    pool.query<ExportRow>(
      `select ${EXPORT_COLUMNS} from ${EXPORT_FROM} where ${where}
        order by ${ORDER_BY[q.sort]} limit $4::int offset $5::int`,
      [...params, q.pageSize, (q.pageNumber - 1) * q.pageSize],
    ),
    pool.query<{ n: string }>(`select count(*) as n from exports e where ${where}`, params),
  ]);
  return { rows: page.rows, total: Number(count.rows[0].n) };
}

export async function setExternalReference(
  pool: Queryable,
  accountId: string,
  dialect: ExportCollection,
  id: string,
  externalReferenceId: string | null,
): Promise<ExportRow | undefined> {
  const { rowCount } = await pool.query(
    `update exports set external_reference_id = $4::text
      where id = $1::uuid and account_id = $2::text and dialect = $3::text`,
    [id, accountId, dialect, externalReferenceId],
  );
  return rowCount ? findExport(pool, accountId, dialect, id) : undefined;
}

/** Deletes the export, its pending jobs and its file row; returns the file name to unlink. */
export async function deleteExport(
  db: AccountDb,
  accountId: string,
  dialect: ExportCollection,
  id: string,
): Promise<{ found: boolean; fileNames: string[] }> {
  return db.transaction(async (client) => {
    const files = await client.query<{ file_name: string }>(
      'select f.file_name from export_files f join exports e on e.id = f.export_id where e.id = $1::uuid and e.account_id = $2::text and e.dialect = $3::text',
      [id, accountId, dialect],
    );
    const { rowCount } = await client.query(
      'delete from exports where id = $1::uuid and account_id = $2::text and dialect = $3::text',
      [id, accountId, dialect],
    );
    // A running export job loses its fence and removes the file it was writing.
    if (rowCount) {
      await client.query(
        "delete from jobs where task = any($2::text[]) and payload->>'export_id' = $1::text",
        [id, [TASK.export, TASK.callback]],
      );
    }
    return { found: Boolean(rowCount), fileNames: files.rows.map((r) => r.file_name) };
  });
}

export interface ExportFileRow {
  id: string;
  file_name: string;
  size: string;
  sha256: string;
}

/** A downloadable file of the account: its export completed and retention has not deleted it. */
export async function findLiveFile(
  pool: Queryable,
  accountId: string,
  dialect: ExportCollection,
  fileId: string,
): Promise<ExportFileRow | undefined> {
  const { rows } = await pool.query<ExportFileRow>(
    `select f.id, f.file_name, f.size, f.sha256 from export_files f join exports e on e.id = f.export_id
      where f.id = $1::uuid and f.account_id = $2::text and f.deleted_at is null
        and e.dialect = $3::text and e.status = 'completed'`,
    [fileId, accountId, dialect],
  );
  return rows[0];
}

export async function markExportProcessing(pool: pg.Pool, id: string): Promise<void> {
  await pool.query("update exports set status = 'processing' where id = $1::uuid and status <> 'completed'", [
    id,
  ]);
}

/** Between two tries: the export waits in the queue again. */
export async function markExportPending(pool: pg.Pool, id: string): Promise<void> {
  await pool.query("update exports set status = 'pending' where id = $1::uuid and status = 'processing'", [
    id,
  ]);
}

/** A failed export that no longer exists, or did not fail. */
export class ExportNotFailedError extends Error {}

/**
 * An operator's retry of a failed export (`cdrex exports retry`): back to `pending` with a new
 * job (a fresh attempt count and retry period); its dead job goes. Returns the new job's id.
 */
export async function retryFailedExport(
  pool: pg.Pool,
  id: string,
  maxAttempts?: number,
): Promise<{ id: string; account_id: string; job: string }> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ account_id: string; status: ExportStatus }>(
      'select account_id, status from exports where id = $1::uuid for update',
      [id],
    );
    if (rows.length === 0) throw new ExportNotFailedError(`No export ${id}.`);
    if (rows[0].status !== 'failed')
      throw new ExportNotFailedError(
        `Export ${id} is ${rows[0].status}, not failed: there is nothing to retry.`,
      );
    await client.query("update exports set status = 'pending' where id = $1::uuid", [id]);
    await client.query("delete from jobs where task = $2::text and payload->>'export_id' = $1::text", [
      id,
      TASK.export,
    ]);
    const job = await enqueueJob(
      client,
      TASK.export,
      { export_id: id },
      { accountId: rows[0].account_id, maxAttempts },
    );
    return { id, account_id: rows[0].account_id, job: job! };
  });
}

export async function markExportFailed(pool: pg.Pool, id: string): Promise<void> {
  await pool.query("update exports set status = 'failed' where id = $1::uuid and status <> 'completed'", [
    id,
  ]);
}

/** Files whose export completed before the cutoff; retention deletes them. */
export async function expiredFiles(
  pool: pg.Pool,
  cutoff: Date,
): Promise<{ id: string; file_name: string }[]> {
  const { rows } = await pool.query<{ id: string; file_name: string }>(
    `select f.id, f.file_name from export_files f join exports e on e.id = f.export_id
      where f.deleted_at is null and e.completed_at < $1::timestamptz`,
    [cutoff],
  );
  return rows;
}

export async function markFileDeleted(pool: pg.Pool, fileId: string): Promise<void> {
  await pool.query('update export_files set deleted_at = now() where id = $1::uuid', [fileId]);
}

export async function referencedFileNames(pool: pg.Pool): Promise<Set<string>> {
  const { rows } = await pool.query<{ file_name: string }>(
    'select file_name from export_files where deleted_at is null',
  );
  return new Set(rows.map((r) => r.file_name));
}

/** What a written export file is published as. */
export interface PublishedFile {
  fileId: string;
  fileName: string;
  size: number;
  sha256: string;
  rows: number;
}

/** Records the export's file and marks the export completed; inside the job's fenced transaction. */
export async function publishExportFile(
  client: pg.ClientBase,
  exp: ExportRow,
  file: PublishedFile,
): Promise<void> {
  await client.query(
    `insert into export_files (id, export_id, account_id, file_name, size, sha256)
     values ($1::uuid, $2::uuid, $3::text, $4::text, $5::bigint, $6::text)`,
    [file.fileId, exp.id, exp.account_id, file.fileName, file.size, file.sha256],
  );
  await client.query(
    `update exports set status = 'completed', completed_at = now(), row_count = $2::bigint where id = $1::uuid`,
    [exp.id, file.rows],
  );
}
