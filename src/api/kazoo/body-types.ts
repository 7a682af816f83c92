// Request bodies on the Kazoo routes, taken as Kazoo's crossbar takes them (api_util's
// get_req_data): JSON under `application/json` and `application/x-json`; a body without a
// Content-Type is assumed to be JSON; and `application/x-www-form-urlencoded`, which curl sends
// for every `-d` unless told otherwise, is read as JSON when it is JSON, else as form fields.
// So a Kazoo client's `curl -X PUT …/api_auth -d '{"data":…}'` works here as it works on Kazoo.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../errors.js';
import { JSON_TYPE, STREAMED_TYPES } from '../../ingest/upload-body.js';

const FORM = 'application/x-www-form-urlencoded';
/** Read exactly as `application/json` is. */
export const JSON_ALIASES = ['application/x-json', FORM];
/** What the Kazoo routes without an upload accept (415 lists them). */
export const BODY_TYPES = [JSON_TYPE, ...JSON_ALIASES];
/** What a CDR upload accepts. */
export const UPLOAD_BODY_TYPES = [JSON_TYPE, ...STREAMED_TYPES, ...JSON_ALIASES];

const badJson = () => new BadRequestError('The request body is not valid JSON.');

/** A form body: JSON when it parses as JSON (curl's `-d '{…}'`), else its fields, flat, as Kazoo
 * makes an object of them. */
function formBody(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed) as unknown;
    } catch {
      throw badJson();
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

/** The types a 415 on this request names: an upload's, or every other Kazoo route's. */
export function acceptedTypes(req: FastifyRequest): string[] {
  const upload = /\/cdrs$/.test(req.routeOptions.url ?? '') && ['PUT', 'POST'].includes(req.method);
  return upload ? UPLOAD_BODY_TYPES : BODY_TYPES;
}

export function unsupportedTypeMessage(req: FastifyRequest): string {
  return `Send the body as one of: ${acceptedTypes(req).join(', ')}.`;
}

/** Registers the parsers on a Kazoo plugin. They read through Fastify's body reader, so each
 * route's body limit (1 MiB, api_auth 4 KiB) holds for them as for JSON. */
export function kazooBodyParsers(app: FastifyInstance): void {
  // No Content-Type but a body: JSON, as Kazoo assumes ("undefined content type … assuming
  // application/json"). Set before the parser is chosen.
  app.addHook('onRequest', async (req) => {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
    if (req.headers['content-type'] === undefined && hasBody) req.headers['content-type'] = JSON_TYPE;
  });
  app.addContentTypeParser('application/x-json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(badJson(), undefined);
    }
  });
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, formBody(body as string));
    } catch (err) {
      done(err as FastifyError, undefined);
    }
  });
}
