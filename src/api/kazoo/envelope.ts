// Kazoo's response envelope, for successes and errors alike.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const KAZOO_VERSION = '4.3.0';

/** Kazoo's `node` is an opaque base64url digest of its Erlang node name (`crossbar@host`). Ours
 * is a digest of CDREX_NODE_NAME (default `cdrex@localhost`), never of the host name: an
 * unauthenticated 401 must not tell anyone what the machine is called. */
export function nodeField(nodeName: string): string {
  return createHash('md5').update(nodeName).digest('base64url');
}

const nodes = new Map<string, string>();
function node(req: FastifyRequest): string {
  // Optional chaining: an answer from frameworkErrors (before routing) must not fail for want of
  // the store; it is decorated on the root instance, so this is belt and braces.
  const name = req.server?.store?.config.nodeName ?? 'cdrex@localhost';
  let value = nodes.get(name);
  if (value === undefined) nodes.set(name, (value = nodeField(name)));
  return value;
}

export function envelopeFields(req: FastifyRequest) {
  return {
    request_id: String(req.id),
    revision: 'automatic',
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    version: KAZOO_VERSION,
    node: node(req),
  };
}

export function success<T>(req: FastifyRequest, data: T, extra: Record<string, unknown> = {}) {
  return {
    auth_token: req.kazooToken ?? '',
    data,
    ...extra,
    status: 'success' as const,
    ...envelopeFields(req),
  };
}

export function sendKazooError(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  message: string,
  data: unknown,
): FastifyReply {
  return reply.code(status).send({
    auth_token: '',
    data,
    error: String(status),
    message,
    status: 'error',
    ...envelopeFields(req),
  });
}

export const INVALID_CREDENTIALS = { message: 'invalid credentials' };
export const BAD_IDENTIFIER = { message: 'bad identifier', not_found: 'The path requested is invalid' };

/**
 * The pieces' UTF-8 bytes in one Buffer, each written where it belongs. Joined into one string
 * instead, a page was copied three more times on the JS heap (the join, Fastify's byteLength of
 * the joined string, the socket's encoding of it): about 150 KB of garbage per page, whose
 * collections, 5 ms each on a 2-core machine, were the Kazoo page's p99 (issue 16). A Buffer's
 * bytes live outside the heap the young-generation collector scans.
 */
export function concatUtf8(pieces: string[]): Buffer {
  let size = 0;
  for (const piece of pieces) size += Buffer.byteLength(piece);
  const bytes = Buffer.allocUnsafe(size);
  let offset = 0;
  for (const piece of pieces) offset += bytes.write(piece, offset);
  return bytes;
}
