// The JSON:API document shapes DIDWW answers with, errors in particular.
import type { FastifyReply } from 'fastify';
import type { FieldProblem } from '../../errors.js';

export const JSON_API = 'application/vnd.api+json';

export interface JsonApiError {
  title: string;
  detail?: string;
  code: string;
  status: string;
  source?: { pointer: string };
}

export function errorDocument(status: number, title: string, detail?: string): { errors: JsonApiError[] } {
  return {
    errors: [
      { title, ...(detail === undefined ? {} : { detail }), code: String(status), status: String(status) },
    ],
  };
}

export const UNAUTHORIZED = errorDocument(401, 'Unauthorized', 'Authorization failed');

export function recordNotFound(id: string) {
  return errorDocument(404, 'Record not found', `The record identified by ${id} could not be found.`);
}

/** `filters.year` → `/data/attributes/filters.year` (the dot stays: it is DIDWW's attribute name). */
function pointerOf(field: string): string {
  if (field === 'data') return '/data';
  return field === 'type' || field === 'id' ? `/data/${field}` : `/data/attributes/${field}`;
}

/** One 422 entry per problem, code "100" as DIDWW sends. */
export function validationDocument(problems: FieldProblem[]): { errors: JsonApiError[] } {
  return {
    errors: problems.map((p) => ({
      title: p.title,
      detail: p.detail ?? `${p.field} - ${p.title}`,
      code: '100',
      source: { pointer: pointerOf(p.field) },
      status: '422',
    })),
  };
}

export function sendError(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', JSON_API).send(body);
}
