// An account's read in one round trip to the database (issue 16): BEGIN READ ONLY, the account's
// settings, the statement and COMMIT are written together as extended-protocol messages ended by
// one Sync, and answered together. A page was three round trips before (BEGIN with the settings,
// the statement, the COMMIT off the caller's path), and each is two hand-offs between the
// processes of a busy machine, where the tail grows.
//
// Safe by construction: PostgreSQL runs the messages in order and, after an error, skips every
// message up to the Sync, so the statement runs only after the account is set, inside the
// transaction that holds the setting, and the COMMIT ends it. pg's documented extension point
// (a "Submittable", as pg-cursor and pg-copy-streams are) sends the messages; pg.Result parses
// the rows exactly as pg.Client would.
import pg from 'pg';

/** The account as a bind parameter: nothing of the request reaches SQL text. */
const SET_ACCOUNT = "select set_config('cdrex.account', $1::text, true)";
/**
 * The same, for a named statement (a Kazoo page without filters, cdr-views.ts): its generic plan
 * from the first run. PostgreSQL's own choice kept planning it for every page (the generic plan's
 * estimate, made without the range, looks dearer), which took 1 ms of the page's 2 in PostgreSQL;
 * the generic plan prunes the months when it runs.
 */
const SET_ACCOUNT_GENERIC =
  "select set_config('cdrex.account', $1::text, true), set_config('plan_cache_mode', 'force_generic_plan', true)";

/** pg.Result's row building, which pg.Query uses and @types/pg leaves out. */
interface ResultBuilder<R extends pg.QueryResultRow> extends pg.QueryResult<R> {
  addFields(fields: pg.FieldDef[]): void;
  parseRow(fields: unknown[]): R;
  addRow(row: R): void;
  addCommandComplete(msg: unknown): void;
}

/** How pg.Query turns a JavaScript value into a parameter (a Date, an array), untyped in @types/pg. */
const { prepareValue } = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils;

/** What of pg's Connection this writes to (the methods pg.Query itself uses). */
interface Wire {
  parsedStatements: Record<string, string>;
  stream: { cork?(): void; uncork?(): void };
  parse(msg: { text: string; name: string }): void;
  bind(msg: { statement: string; values: unknown[] }): void;
  describe(msg: { type: 'P'; name: string }): void;
  execute(msg: { portal: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** The responses' order: BEGIN, the settings, the caller's statement, COMMIT. */
const STATEMENT = 2;
const ALL = 4;

/**
 * The Submittable: give it to client.query() of a client outside any transaction, then await
 * `done`. On an error the client's transaction state is unknown to the caller (the Sync leaves
 * it failed): release the client with the error, which destroys it.
 */
export class ReadInOneTrip<R extends pg.QueryResultRow> {
  /** pg.Client gives a result named so its type parsers (pg-cursor relies on the same). */
  readonly _result = new pg.Result<R>('', undefined as unknown as typeof pg.types) as ResultBuilder<R>;
  /** Set by pg.Client.query(); called once, with the statement's result or an error. */
  callback?: (err: Error | null, result?: pg.QueryResult<R>) => void;
  readonly done: Promise<pg.QueryResult<R>>;
  private completed = 0;
  private failure?: Error;

  constructor(
    private readonly accountId: string,
    private readonly statement: pg.QueryConfig,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.callback = (err, result) => (err ? reject(err) : resolve(result as pg.QueryResult<R>));
    });
    // Awaited by read() whenever client.query() returned; should it ever throw instead, a
    // rejection nobody awaits must not end the process.
    this.done.catch(() => undefined);
  }

  /** Writes the messages; an Error returned (pg then calls handleError) means none was written. */
  submit(wire: Wire): Error | null {
    const { name, text, values = [] } = this.statement;
    const unsupported = (['rowMode', 'types', 'queryMode', 'binary', 'rows'] as const).filter(
      (option) => (this.statement as unknown as Record<string, unknown>)[option] !== undefined,
    );
    // Messages joined, not templated: the SQL-text lint reads a template with quotes as SQL.
    if (unsupported.length) return new Error('AccountDb.read() does not take ' + unsupported.join(', '));
    const parsed = name === undefined ? undefined : wire.parsedStatements[name];
    if (parsed !== undefined && parsed !== text)
      return new Error('Prepared statements must be unique: ' + String(name) + ' was used for another text');
    // Converted before anything is written: a value whose conversion throws (a toPostgres, a
    // BigInt inside an object) must not leave half a batch on the wire without its Sync.
    let params: unknown[];
    try {
      params = values.map((value) => prepareValue(value));
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    const unnamed = (sql: string, args: unknown[] = []) => {
      wire.parse({ text: sql, name: '' });
      wire.bind({ statement: '', values: args });
      wire.execute({ portal: '' });
    };
    wire.stream.cork?.();
    try {
      unnamed('begin read only');
      unnamed(name ? SET_ACCOUNT_GENERIC : SET_ACCOUNT, [this.accountId]);
      if (parsed === undefined) wire.parse({ text, name: name ?? '' });
      wire.bind({ statement: name ?? '', values: params });
      wire.describe({ type: 'P', name: '' });
      wire.execute({ portal: '' });
      unnamed('commit');
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: pg.FieldDef[] }): void {
    if (this.completed === STATEMENT) this._result.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    // The settings' row is not the caller's (and comes without a description to parse it by).
    if (this.completed !== STATEMENT || this.failure) return;
    try {
      this._result.addRow(this._result.parseRow(msg.fields));
    } catch (err) {
      this.failure = err as Error; // a type parser's throw; reported at ReadyForQuery
    }
  }

  handleCommandComplete(msg: unknown): void {
    if (this.completed === STATEMENT) this._result.addCommandComplete(msg);
    this.completed++;
  }

  handleReadyForQuery(wire: Wire): void {
    if (this.failure) return this.handleError(this.failure);
    if (this.completed !== ALL) return this.handleError(new Error('the read ended before its COMMIT'));
    // Only now is the named statement known to exist on the connection: recorded where pg.Query
    // looks, so either of them prepares it once.
    const { name, text } = this.statement;
    if (name) wire.parsedStatements[name] = text;
    this.finish(null, this._result);
  }

  handleError(err: Error): void {
    this.finish(err);
  }

  handleEmptyQuery(): void {
    this.handleError(new Error('an empty statement'));
  }

  handlePortalSuspended(): void {
    this.handleError(new Error('a portal suspended, which a read never asks for'));
  }

  handleCopyInResponse(wire: Wire): void {
    wire.sendCopyFail('a read sends no COPY data');
  }

  handleCopyData(): void {}

  private finish(err: Error | null, result?: pg.QueryResult<R>) {
    const callback = this.callback;
    this.callback = undefined;
    callback?.(err, result);
  }
}
