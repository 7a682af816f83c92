// Request ids: a caller's X-Request-Id when it is printable ASCII of at most 128 characters (what
// a proxy or a client library sends), else a new UUID. Fastify puts it on every log line of the
// request (`reqId`), the response echoes it, and an export created by the request carries it into
// its job, so the worker's lines about that export and its callback carry it too.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A value that cannot break a log line or a header: no control characters, bounded length. */
const ACCEPTABLE = /^[\x20-\x7e]{1,128}$/;

export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
}
