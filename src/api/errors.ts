// What went wrong with a request, decided once for every dialect. classify() reads an error
// (cdrex's own, Fastify's, PostgreSQL's) into a status, a kind and a message; each dialect keeps
// only its renderer, which turns that into its own error body (a JSON:API document, a Kazoo
// envelope, `{"error": …}`). Anything classify does not recognise is a bug: a 500 whose text is
// logged, never shown.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CdrexError, NotFoundError, ValidationError } from '../errors.js';
import { RETRY_AFTER_S, storeFailure } from '../store/errors.js';

export type ErrorKind =
  /** ValidationError: one problem per field (`err.problems`). */
  | 'validation'
  /** NotFoundError: the record does not exist for this account. */
  | 'not_found'
  /** The request failed its route's schema (Fastify's validation). */
  | 'schema'
  /** PostgreSQL refused a value of the request as data (a NUL byte, a number out of range). */
  | 'bad_input'
  /** The query ran past statement_timeout. */
  | 'timeout'
  /** The store cannot be reached. */
  | 'unavailable'
  | 'too_many_requests'
  | 'payload_too_large'
  | 'unsupported_media_type'
  /** Any other 4xx: the message is written for the client. */
  | 'client'
  /** Anything else: a bug. */
  | 'internal';

export interface Classified {
  status: number;
  kind: ErrorKind;
  /** For the client: the error's own message for 4xx kinds, a fixed sentence otherwise. */
  message: string;
}

const BY_STATUS: Record<number, ErrorKind> = {
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

export function classify(err: unknown): Classified {
  const e = err as { message?: string; statusCode?: number; validation?: unknown } | undefined;
  const message = e?.message ?? '';
  if (err instanceof ValidationError) return { status: 422, kind: 'validation', message };
  if (err instanceof NotFoundError) return { status: 404, kind: 'not_found', message };
  if (e?.validation) return { status: 400, kind: 'schema', message };
  const failure = storeFailure(err);
  if (failure === 'bad_input')
    return { status: 400, kind: 'bad_input', message: 'A value in the request is not valid.' };
  if (failure === 'timeout')
    return { status: 503, kind: 'timeout', message: 'The store took too long to answer; retry shortly.' };
  if (failure === 'unavailable')
    return { status: 503, kind: 'unavailable', message: 'The store is not reachable; retry shortly.' };
  // cdrex's errors carry their status; Fastify's (a body too large, an unknown media type) and
  // its plugins' carry statusCode too.
  const status = err instanceof CdrexError ? err.statusCode : e?.statusCode;
  if (status !== undefined && status >= 400 && status < 500)
    return { status, kind: BY_STATUS[status] ?? 'client', message };
  return { status: 500, kind: 'internal', message: 'Something went wrong on our side.' };
}

/** The store kinds: the client should come back later. */
export function isStoreKind(kind: ErrorKind): boolean {
  return kind === 'timeout' || kind === 'unavailable';
}

/**
 * What every renderer does besides its body: a store failure is logged as a warning and tells
 * the client when to retry; a bug is logged as an error with its stack.
 */
export function logAndHint(req: FastifyRequest, reply: FastifyReply, c: Classified, err: unknown): void {
  if (isStoreKind(c.kind)) {
    req.log.warn({ err }, c.kind === 'timeout' ? 'query timed out' : 'store unavailable');
    reply.header('Retry-After', String(RETRY_AFTER_S));
  } else if (c.kind === 'internal') req.log.error({ err }, 'request failed');
}
