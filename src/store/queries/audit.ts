// The append-only audit log (migration 000015): one INSERT per event, read back keyset-paged.
// Nobody may change or delete a row (grants and a trigger), so a record is written once, here.
import type { Queryable } from '../account-db.js';

export interface AuditEvent {
  /** The account the event concerns; null for operator-wide events (operator tokens). */
  account_id: string | null;
  /** What happened, e.g. `api_key.revoked`, `export.downloaded`, `cdrs.erased`. */
  action: string;
  /** Who did it: `operator:<token name>`, `cli`, or `account:<credential kind>`. */
  actor: string;
  /** The client's address for events that came over HTTP. */
  address?: string | null;
  /** What else identifies the event (a key id, a file id, a new name). Never a secret, never a
   * subscriber's number (erasures record a keyed hash of it). */
  detail?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEvent> {
  id: string;
  at: string;
}

/** Appends one event. `db` is any pool or client: an account's request view (row-level security
 * admits only its own account's rows), the worker's pool, or a client inside a transaction, so an
 * event commits with the change it records. */
export async function recordAudit(db: Queryable, event: AuditEvent): Promise<void> {
  await db.query(
    `insert into audit_log (account_id, action, actor, address, detail)
     values ($1::text, $2::text, $3::text, $4::text, $5::jsonb)`,
    [event.account_id, event.action, event.actor, event.address ?? null, JSON.stringify(event.detail ?? {})],
  );
}

export interface AuditQuery {
  account?: string;
  action?: string;
  /** Newest first: the page continues below this id (the previous page's `next`). */
  before?: string;
  limit: number;
}

/** One page of events, newest first, and the cursor of the next page (null on the last). */
export async function listAudit(
  db: Queryable,
  query: AuditQuery,
): Promise<{ events: AuditRecord[]; next: string | null }> {
  const oneMore = query.limit + 1; // tells whether a next page exists
  const { rows } = await db.query<{
    id: string;
    at: Date;
    account_id: string | null;
    action: string;
    actor: string;
    address: string | null;
    detail: Record<string, unknown>;
  }>(
    `select id::text, at, account_id, action, actor, address, detail from audit_log
      where ($1::text is null or account_id = $1::text)
        and ($2::text is null or action = $2::text)
        and ($3::bigint is null or id < $3::bigint)
      order by audit_log.id desc -- the column: the output id is text, which sorts "10" before "9"
      limit $4::int`,
    [query.account ?? null, query.action ?? null, query.before ?? null, oneMore],
  );
  const page = rows.slice(0, query.limit);
  return {
    events: page.map((r) => ({ ...r, at: r.at.toISOString() })),
    next: rows.length > query.limit ? page[page.length - 1].id : null,
  };
}
