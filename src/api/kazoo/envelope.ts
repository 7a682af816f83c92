// Kazoo's response envelope, for successes and errors alike.
import os from 'node:os';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const KAZOO_VERSION = '4.3.0';
const NODE = Buffer.from(os.hostname()).toString('base64url');

export function envelopeFields(req: FastifyRequest) {
  return {
    request_id: String(req.id),
    revision: 'automatic',
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    version: KAZOO_VERSION,
    node: NODE,
  };
}

export function success(req: FastifyRequest, data: unknown, extra: Record<string, unknown> = {}) {
  return { auth_token: req.kazooToken ?? '', data, ...extra, status: 'success', ...envelopeFields(req) };
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
