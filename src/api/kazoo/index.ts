// The Kazoo dialect (`/v1` and `/v2`): token auth, the Kazoo envelope for every answer and error,
// and the CDR routes. Translation only; the search service and loaders do the work.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ValidationError } from '../../errors.js';
import { hasNulByte } from '../../store/errors.js';
import { classify, logAndHint } from '../errors.js';
import { findCredential } from '../../store/queries/tokens.js';
import { BAD_IDENTIFIER, INVALID_CREDENTIALS, sendKazooError } from './envelope.js';
import { KazooValidationError } from './list-params.js';
import { kazooBodyParsers, unsupportedTypeMessage } from './body-types.js';
import { kazooRoutes, wantsCsv } from './routes.js';
import { presentedToken, requireAccount } from '../auth.js';
import type { ApiDialect } from '../dialect.js';

declare module 'fastify' {
  interface FastifyRequest {
    kazooToken?: string;
  }
  interface FastifyContextConfig {
    /** Routes reachable without a token (api_auth). */
    public?: boolean;
    /** CDR lists, whose CSV a `csv_download` token may fetch (and nothing else). */
    csvDownload?: boolean;
  }
}

export async function kazooApi(app: FastifyInstance): Promise<void> {
  const { pool } = app.store;
  kazooBodyParsers(app);

  app.addHook('onRequest', async (req, reply) => {
    if (hasNulByte(req.url))
      return sendKazooError(req, reply, 400, 'invalid request', {
        message: 'NUL bytes are not allowed in URLs',
      });
  });

  requireAccount(app, {
    isPublic: (req) => req.routeOptions.config?.public === true,
    async identify(req) {
      const token = presentedToken(req);
      // A token from api_auth, or the account's API key itself (documented in docs/api-kazoo.md).
      const credential = token ? await findCredential(pool, token) : undefined;
      const accountId = credential?.accountId;
      const target = (req.params as { account_id?: string } | undefined)?.account_id;
      // Another account's path answers exactly as a bad token does: nothing about it leaks.
      if (!accountId || (target !== undefined && target !== accountId)) return undefined;
      // The portal's CSV-link token reads a CDR list as CSV, nothing more.
      if (credential.scope === 'csv_download' && !(req.routeOptions.config?.csvDownload && wantsCsv(req)))
        return undefined;
      // Only an api_auth token is echoed in `auth_token`; the API key never is (a response body
      // ends up in logs, caches and browser tools far more often than a request header does).
      return { accountId, after: () => (req.kazooToken = credential.kind === 'token' ? token : undefined) };
    },
    refuse: (req, reply) => sendKazooError(req, reply, 401, 'invalid_credentials', INVALID_CREDENTIALS),
  });

  app.setNotFoundHandler((req, reply) => {
    sendKazooError(req, reply, 404, 'bad_identifier', BAD_IDENTIFIER);
  });

  app.setErrorHandler(answerError);

  await app.register(kazooRoutes);
}

/** Every error in Kazoo's envelope: its status, its `error` text and a `data` that says why. */
function answerError(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof KazooValidationError) return sendKazooError(req, reply, 400, err.message, err.data);
  const c = classify(err);
  logAndHint(req, reply, c, err);
  switch (c.kind) {
    case 'validation': {
      const problems = (err as ValidationError).problems;
      const data = Object.fromEntries(problems.map((p) => [p.field, { invalid: { message: p.title } }]));
      return sendKazooError(req, reply, 400, 'validation error', data);
    }
    case 'not_found':
      return sendKazooError(req, reply, 404, 'bad_identifier', BAD_IDENTIFIER);
    case 'bad_input':
      return sendKazooError(req, reply, 400, 'invalid request', {
        message: 'a value in the request is not valid',
      });
    case 'timeout':
      return sendKazooError(req, reply, 504, 'timeout', { message: 'the query took too long' });
    case 'unavailable':
      return sendKazooError(req, reply, 503, 'datastore_unreachable', {
        message: 'the CDR store is not reachable',
      });
    case 'unsupported_media_type':
      return sendKazooError(req, reply, 415, 'unsupported_media_type', {
        message: unsupportedTypeMessage(req),
      });
    case 'payload_too_large':
      // The client may still be sending: close the connection rather than read the rest.
      reply.header('connection', 'close');
      return sendKazooError(req, reply, 413, 'request_too_large', { message: c.message });
    case 'too_many_requests':
      return sendKazooError(req, reply, 429, 'too_many_requests', { message: c.message });
    case 'schema':
    case 'client':
      return sendKazooError(req, reply, c.status, 'invalid request', { message: c.message });
    case 'internal':
      return sendKazooError(req, reply, 500, 'internal_server_error', {
        message: 'something went wrong on our side',
      });
  }
}

export const kazooDialect: ApiDialect = {
  prefixes: ['/v1', '/v2'],
  plugin: kazooApi,
  urlError: (req, reply, status, message) =>
    sendKazooError(req, reply, status, 'invalid request', { message }),
};
