// JSON:API media-type rules and the DIDWW version header.
import type { FastifyRequest } from 'fastify';
import { JSON_API } from './json-api.js';
import { DEFAULT_VERSION, SUPPORTED_VERSIONS } from './versions.js';

/** A request body must be sent as exactly `application/vnd.api+json`, with no parameters. */
export function unsupportedMediaType(req: FastifyRequest): boolean {
  if (!['POST', 'PATCH', 'PUT'].includes(req.method)) return false;
  const type = req.headers['content-type'];
  return type === undefined
    ? Number(req.headers['content-length'] ?? 0) > 0
    : type.trim().toLowerCase() !== JSON_API;
}

/** JSON:API: 406 when every JSON:API media type in Accept carries parameters. */
export function notAcceptable(req: FastifyRequest): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  const jsonApi = accept
    .split(',')
    .map((r) => r.trim().toLowerCase())
    .filter((r) => r.split(';')[0].trim() === JSON_API);
  return jsonApi.length > 0 && jsonApi.every((r) => r.includes(';'));
}

/** The version the client asked for; undefined when it is not one we speak. */
export function requestedVersion(req: FastifyRequest): string | undefined {
  const header = req.headers['x-didww-api-version'];
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return DEFAULT_VERSION;
  return SUPPORTED_VERSIONS.includes(value.trim()) ? value.trim() : undefined;
}
