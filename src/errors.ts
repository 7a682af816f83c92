// Error classes shared by every layer. The API dialects translate them into their own
// formats; nothing below the API layer knows about HTTP bodies.

export class CdrexError extends Error {
  readonly code: string;
  readonly statusCode: number;
  constructor(message: string, code: string, statusCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
  }
}

export class NotFoundError extends CdrexError {
  constructor(message = 'Not found.') {
    super(message, 'not_found', 404);
  }
}

export interface FieldProblem {
  /** attribute path as the client wrote it, e.g. `filters.year` */
  field: string;
  /** short title, e.g. `can't be blank` */
  title: string;
  /** A sentence for the client when `field - title` does not say enough. */
  detail?: string;
}

/** Input that parsed but does not make sense; carries one entry per problem. */
export class ValidationError extends CdrexError {
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[]) {
    super(problems.map((p) => `${p.field} - ${p.title}`).join('; '), 'validation', 422);
    this.problems = problems;
  }
}

/** A malformed file or row in a bulk load; `line` is 1-based with the header as line 1. */
export class DataError extends CdrexError {
  readonly line: number | undefined;
  readonly file: string | undefined;
  constructor(message: string, details: { line?: number; file?: string; cause?: unknown } = {}) {
    super(message, 'data', 400, { cause: details.cause });
    this.line = details.line;
    this.file = details.file;
  }
}

/** A request malformed before any field is read: a body that is not JSON, a body cut short, a
 * field the route does not know. */
export class BadRequestError extends CdrexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'bad_request', 400, options);
  }
}

/** A body over a byte cap; the client may still be sending it. */
export class PayloadTooLargeError extends CdrexError {
  constructor(message: string) {
    super(message, 'payload_too_large', 413);
  }
}

/** A limit on requests (per credential, per account, per address); Retry-After says when. */
export class TooManyRequestsError extends CdrexError {
  constructor(message: string) {
    super(message, 'too_many_requests', 429);
  }
}

/** The job's lease was taken over by another worker; the holder must stop and publish nothing. */
export class LeaseLostError extends CdrexError {
  constructor(jobId: string) {
    super(`The lease on job ${jobId} was lost to another worker.`, 'lease_lost', 409);
  }
}

/** A job's database connection was lost, cut by a watchdog (a COPY that stopped yielding, a
 * lease that could not be renewed): the job goes back to the queue without counting an attempt. */
export class ConnectionLostError extends CdrexError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'connection_lost', 503, options);
  }
}

export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}
