// The DIDWW API v3 dialect (`/v3`): its own auth, media-type rules, version header, error and
// not-found handlers. It translates requests and responses; the export service does the work.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, ValidationError } from '../../errors.js';
import { findAccountByApiKey } from '../../store/queries/accounts.js';
import { hasNulByte } from '../../store/errors.js';
import { classify, logAndHint, type ErrorKind } from '../errors.js';
import { errorDocument, JSON_API, sendError, UNAUTHORIZED, validationDocument } from './json-api.js';
import { notAcceptable, requestedVersion, unsupportedMediaType } from './negotiation.js';
import { exportRoutes } from './routes.js';
import { SUPPORTED_VERSIONS } from './versions.js';
import { presentedApiKey, requireAccount } from '../auth.js';
import type { ApiDialect } from '../dialect.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiVersion: string;
  }
  interface FastifyContextConfig {
    /** File downloads: no JSON:API negotiation; 404s have no body. */
    download?: boolean;
  }
}

/** A JSON:API error's title, by kind. */
const TITLES: Record<ErrorKind, string> = {
  validation: 'Unprocessable Entity', // not used: validation errors have a document of their own
  not_found: 'Record not found',
  schema: 'Bad Request',
  bad_input: 'Bad Request',
  // DIDWW documents no 504: a query timeout is a 503 as well, with its own detail.
  timeout: 'Service Unavailable',
  unavailable: 'Service Unavailable',
  too_many_requests: 'Too Many Requests',
  payload_too_large: 'Payload Too Large',
  unsupported_media_type: 'Unsupported Media Type',
  client: 'Bad Request',
  internal: 'Internal Server Error',
};

/** Where the DIDWW detail says more than classify's message. */
const DETAILS: Partial<Record<ErrorKind, string>> = {
  timeout: 'The CDR store took too long to answer; retry shortly.',
  unavailable: 'The CDR store is not reachable; retry shortly.',
};

function isDownload(req: FastifyRequest): boolean {
  return req.routeOptions.config?.download === true;
}

export async function didwwApi(app: FastifyInstance): Promise<void> {
  app.decorateRequest('apiVersion', '');
  app.addContentTypeParser(JSON_API, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new BadRequestError('The request body is not valid JSON.'), undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!hasNulByte(req.url)) return;
    if (isDownload(req)) return reply.code(404).send();
    return sendError(reply, 400, errorDocument(400, 'Bad Request', 'NUL bytes are not allowed in URLs.'));
  });

  requireAccount(app, {
    async identify(req) {
      const key = presentedApiKey(req);
      const accountId = key ? await findAccountByApiKey(app.store.pool, key) : undefined;
      return accountId ? { accountId } : undefined;
    },
    refuse: (_req, reply) => sendError(reply, 401, UNAUTHORIZED),
    // A file download streams from disk, holding no database connection: not counted.
    holdsSlot: (req) => !isDownload(req),
  });

  app.addHook('onRequest', negotiate);

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

  app.setErrorHandler(answerError);

  await app.register(exportRoutes, { dialect: 'exports' });
  await app.register(exportRoutes, { dialect: 'cdr_exports' });
}

/** The API version (X-DIDWW-API-Version) and JSON:API media types, before anything else runs. */
async function negotiate(req: FastifyRequest, reply: FastifyReply) {
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
}

/** Every error as a JSON:API error document (a file download's 404 has no body). */
function answerError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  const c = classify(err);
  logAndHint(req, reply, c, err);
  // A missing file is a 404 without a body, whatever said so.
  if (isDownload(req) && c.status === 404) return reply.code(404).send();
  if (err instanceof ValidationError) return sendError(reply, 422, validationDocument(err.problems));
  return sendError(reply, c.status, errorDocument(c.status, TITLES[c.kind], DETAILS[c.kind] ?? c.message));
}

export const didwwDialect: ApiDialect = {
  prefixes: ['/v3'],
  plugin: didwwApi,
  urlError: (_req, reply, status, message) =>
    sendError(reply, status, errorDocument(status, 'Bad Request', message)),
};
