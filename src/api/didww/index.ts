// The DIDWW API v3 dialect (`/v3`): its own auth, media-type rules, version header, error and
// not-found handlers. It translates requests and responses; the export service does the work.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { CdrexError, NotFoundError, ValidationError } from '../../errors.js';
import { findAccountByApiKey } from '../../store/queries/accounts.js';
import { hasNulByte, RETRY_AFTER_S, storeFailure } from '../../store/errors.js';
import { errorDocument, JSON_API, sendError, UNAUTHORIZED, validationDocument } from './json-api.js';
import { notAcceptable, requestedVersion, unsupportedMediaType } from './negotiation.js';
import { exportRoutes } from './routes.js';
import { SUPPORTED_VERSIONS } from './versions.js';
import { authenticate } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    accountId?: string;
    apiVersion: string;
  }
  interface FastifyContextConfig {
    /** File downloads: no JSON:API negotiation; 404s have no body. */
    download?: boolean;
  }
}

function isDownload(req: FastifyRequest): boolean {
  return req.routeOptions.config?.download === true;
}

export async function didwwApi(app: FastifyInstance): Promise<void> {
  app.decorateRequest('apiVersion', '');
  app.addContentTypeParser(JSON_API, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      const err = new Error('The request body is not valid JSON.') as FastifyError;
      err.statusCode = 400;
      done(err, undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    if (hasNulByte(req.url)) {
      if (isDownload(req)) return reply.code(404).send();
      return sendError(reply, 400, errorDocument(400, 'Bad Request', 'NUL bytes are not allowed in URLs.'));
    }
    const key = req.headers['api-key'];
    const accountId =
      typeof key === 'string' && key ? await findAccountByApiKey(app.store.pool, key) : undefined;
    if (!accountId) return sendError(reply, 401, UNAUTHORIZED);
    // A file download streams from disk, holding no database connection: not counted.
    authenticate(req, accountId, isDownload(req) ? undefined : reply);
    const version = requestedVersion(req);
    if (!version) {
      return sendError(
        reply,
        400,
        errorDocument(
          400,
          'Invalid API version',
          `Supported X-DIDWW-API-Version values: ${SUPPORTED_VERSIONS.join(', ')}.`,
        ),
      );
    }
    req.apiVersion = version;
    if (isDownload(req)) return;
    if (notAcceptable(req)) {
      return sendError(
        reply,
        406,
        errorDocument(406, 'Not Acceptable', `Accept ${JSON_API} without media type parameters.`),
      );
    }
    if (unsupportedMediaType(req)) {
      return sendError(
        reply,
        415,
        errorDocument(
          415,
          'Unsupported Media Type',
          `Send the request body as ${JSON_API} without media type parameters.`,
        ),
      );
    }
  });

  // JSON:API documents carry their own media type, without parameters. Fastify adds a charset to
  // JSON types when it serialises, so this runs after that, on every response but file downloads.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!isDownload(req) && /json/.test(String(reply.getHeader('content-type') ?? ''))) {
      reply.header('content-type', JSON_API);
    }
    return payload;
  });

  app.setNotFoundHandler((req, reply) => {
    sendError(
      reply,
      404,
      errorDocument(404, 'Not Found', `No route matches ${req.method} ${req.url.split('?')[0]}.`),
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isDownload(req) && (err instanceof NotFoundError || err.statusCode === 404))
      return reply.code(404).send();
    if (err instanceof ValidationError) return sendError(reply, 422, validationDocument(err.problems));
    if (err instanceof NotFoundError)
      return sendError(reply, 404, errorDocument(404, 'Record not found', err.message));
    if (err.validation) return sendError(reply, 400, errorDocument(400, 'Bad Request', err.message));
    const failure = storeFailure(err);
    if (failure === 'bad_input')
      return sendError(reply, 400, errorDocument(400, 'Bad Request', 'A value in the request is not valid.'));
    if (failure) {
      // DIDWW documents no 504: a query timeout is a 503 as well, with its own detail.
      req.log.warn({ err }, 'store unavailable');
      const detail =
        failure === 'timeout'
          ? 'The CDR store took too long to answer; retry shortly.'
          : 'The CDR store is not reachable; retry shortly.';
      reply.header('Retry-After', String(RETRY_AFTER_S));
      return sendError(reply, 503, errorDocument(503, 'Service Unavailable', detail));
    }
    const status = err.statusCode ?? (err instanceof CdrexError ? err.statusCode : 500);
    if (status === 429) return sendError(reply, 429, errorDocument(429, 'Too Many Requests', err.message));
    if (status >= 400 && status < 500) {
      const title =
        status === 413 ? 'Payload Too Large' : status === 415 ? 'Unsupported Media Type' : 'Bad Request';
      return sendError(reply, status, errorDocument(status, title, err.message));
    }
    req.log.error({ err }, 'request failed');
    return sendError(
      reply,
      500,
      errorDocument(500, 'Internal Server Error', 'Something went wrong on our side.'),
    );
  });

  await app.register(exportRoutes, { dialect: 'exports' });
  await app.register(exportRoutes, { dialect: 'cdr_exports' });
}
