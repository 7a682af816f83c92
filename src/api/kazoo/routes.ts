// The Kazoo CDR routes, under /v1 and /v2 (registered once per prefix).
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { kazooDocToRecord } from '../../ingest/kazoo.js';
import { loadRecords } from '../../ingest/records.js';
import { ingestWindow } from '../../ingest/window.js';
import {
  findCdr,
  listInteractions,
  listLegs,
  listPage,
  streamCsv,
  streamDocs,
  summarize,
  type Page,
} from '../../search/cdr-search-service.js';
import { accountDb } from '../../store/account-db.js';
import { findAccountByApiKey } from '../../store/queries/accounts.js';
import { createToken } from '../../store/queries/tokens.js';
import { accountLimits, longStreams, SLOT_RETRY_AFTER_S, STREAM_RETRY_AFTER_S } from '../long-streams.js';
import { JSON_TYPE, uploadRecords } from '../../ingest/upload-body.js';
import { JSON_ALIASES, UPLOAD_BODY_TYPES } from './body-types.js';
import {
  concatUtf8,
  envelopeFields,
  INVALID_CREDENTIALS,
  BAD_IDENTIFIER,
  sendKazooError,
  success,
} from './envelope.js';
import { parseListParams, type ListParams } from './list-params.js';

const CSV_TYPES = ['application/octet-stream', 'text/csv', 'text/comma-separated-values'];
const AccountParams = Type.Object({ account_id: Type.String({ maxLength: 64 }) });
const AnyQuery = Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]));
const Envelope = Type.Object({ status: Type.String() }, { additionalProperties: true });
// Response schemas for the OpenAPI document (/v2/openapi.json). The list, detail, legs and
// interaction routes send text PostgreSQL serialised (sendRawData), which Fastify passes through
// untouched; api_auth's object is serialised by its schema, whose properties are in the order
// success() writes them, so the bytes are as before.
const Cdr = Type.Object(
  { id: Type.String(), call_id: Type.String() },
  { additionalProperties: true, description: 'A Kazoo CDR document (docs/kazoo-cdrs.md).' },
);
const envelopeOf = <T extends TSchema>(data: T, extra: Record<string, TSchema> = {}) =>
  Type.Object(
    {
      auth_token: Type.String(),
      data,
      ...extra,
      status: Type.Literal('success'),
      request_id: Type.String(),
      revision: Type.String(),
      timestamp: Type.String(),
      version: Type.String(),
      node: Type.String(),
    },
    { additionalProperties: true },
  );
const PageEnvelope = envelopeOf(Type.Array(Cdr), {
  page_size: Type.Integer(),
  start_key: Type.Optional(Type.String()),
  next_start_key: Type.Optional(Type.String()),
});
const ApiAuthAnswer = envelopeOf(
  Type.Object({
    account_id: Type.String(),
    auth_token: Type.String(),
    expires_in: Type.Integer(),
    scope: Type.Optional(Type.Literal('csv_download')),
  }),
);
const tags = ['Kazoo CDRs'];
/** A CDR id holds a call id, which switches do not bound; longer URL parts get 414 anyway. */
const MAX_ID = 512;

/** CSV by the Accept header, or by `?accept=csv` (Kazoo's query-string override, which is how a
 * browser link asks for CSV). */
export function wantsCsv(req: FastifyRequest): boolean {
  const override = (req.query as Record<string, unknown>).accept;
  if (typeof override === 'string') return override === 'csv' || CSV_TYPES.includes(override);
  const accept = (req.headers.accept ?? '').toLowerCase();
  return CSV_TYPES.some((t) => accept.includes(t));
}

/**
 * The envelope around `data` that PostgreSQL already serialised (no parse and re-stringify): one
 * document, or several sent as a JSON array.
 */
function sendRawData(
  req: FastifyRequest,
  reply: FastifyReply,
  data: string | string[],
  head: Record<string, unknown> = {},
) {
  const rest = JSON.stringify({
    auth_token: req.kazooToken ?? '',
    ...head,
    status: 'success',
    ...envelopeFields(req),
  });
  const pieces =
    typeof data === 'string'
      ? ['{"data":', data, ',', rest.slice(1)]
      : ['{"data":[', ...data.flatMap((doc, i) => (i === 0 ? [doc] : [',', doc])), '],', rest.slice(1)];
  // Fastify adds the charset to a JSON string it sends, not to a Buffer: every Kazoo answer has it.
  return reply.type('application/json; charset=utf-8').send(concatUtf8(pieces));
}

function sendPage(req: FastifyRequest, reply: FastifyReply, page: Page) {
  const startKey = (req.query as Record<string, string>).start_key || page.startKey;
  return sendRawData(req, reply, page.docs, {
    page_size: page.docs.length,
    ...(startKey ? { start_key: startKey } : {}),
    ...(page.nextStartKey ? { next_start_key: page.nextStartKey } : {}),
  });
}

/** Aborted when the response closes before it was all sent (its client left). */
function abandoned(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/** paginate=false: every row, streamed out of a cursor. */
function sendAll(req: FastifyRequest, reply: FastifyReply, docs: AsyncIterable<string>) {
  const tail = JSON.stringify({
    auth_token: req.kazooToken ?? '',
    status: 'success',
    ...envelopeFields(req),
  });
  async function* body() {
    yield '{"data":[';
    let first = true;
    for await (const doc of docs) {
      yield first ? doc : `,${doc}`;
      first = false;
    }
    yield `],${tail.slice(1)}`;
  }
  return reply.type('application/json').send(Readable.from(body()));
}

async function sendCsv(req: FastifyRequest, reply: FastifyReply, params: ListParams) {
  const query = req.query as Record<string, string>;
  const header = req.headers['x-file-name'];
  // A header value may hold printable ASCII only (anything else made Node throw, a 500).
  const asked = String(query.file_name || (typeof header === 'string' && header) || '');
  const name = asked.replace(/[^\x20-\x7e]|["\\]/g, '').trim() || 'cdrs.csv';
  // cdrex extension: the portal asks for spreadsheet-safe cells (docs/security.md); API CSV stays
  // literal, since a program reading it must get back exactly what was stored.
  const formulaSafe = query.csv_formula_escape === 'true';
  const stream = await streamCsv(req.streamDb!, { ...params.search, startKey: undefined }, { formulaSafe });
  return reply
    .header('Content-Type', 'text/csv; charset=utf-8')
    .header('Content-Disposition', `attachment; filename="${name}"`)
    .send(stream);
}

const ApiAuthBody = Type.Object({
  data: Type.Object({
    api_key: Type.String({ minLength: 1, maxLength: 256 }),
    // cdrex extension: a short-lived token for one CSV link (the portal's download).
    scope: Type.Optional(Type.Literal('csv_download')),
  }),
});
const UserParams = Type.Object({ account_id: Type.String(), user_id: Type.String({ maxLength: 64 }) });
const SummaryQuery = Type.Intersect([
  AnyQuery,
  Type.Object({ bucket: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')])) }),
]);
const LegsParams = Type.Object({
  account_id: Type.String(),
  interaction_id: Type.String({ maxLength: MAX_ID }),
});
const CdrParams = Type.Object({ account_id: Type.String(), cdr_id: Type.String({ maxLength: MAX_ID }) });
const CDRS = '/accounts/:account_id/cdrs';

export async function kazooRoutes(app: FastifyInstance): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  // Public: anyone can send one, so it is read only up to a few KiB (413 beyond).
  api.put(
    '/api_auth',
    {
      config: { public: true },
      bodyLimit: 4 * 1024,
      schema: { tags, body: ApiAuthBody, response: { 201: ApiAuthAnswer } },
    },
    authenticate,
  );
  api.get(
    CDRS,
    {
      config: { csvDownload: true },
      schema: { tags, params: AccountParams, querystring: AnyQuery, response: { 200: PageEnvelope } },
    },
    (req, reply) => listCdrs(req, reply),
  );
  api.get(
    '/accounts/:account_id/users/:user_id/cdrs',
    { config: { csvDownload: true }, schema: { tags, params: UserParams, response: { 200: PageEnvelope } } },
    (req, reply) => listCdrs(req, reply, req.params.user_id),
  );
  api.get(
    `${CDRS}/summary`,
    { schema: { tags, params: AccountParams, querystring: SummaryQuery, response: { 200: Envelope } } },
    summary,
  );
  api.get(
    `${CDRS}/interaction`,
    { schema: { tags, params: AccountParams, response: { 200: PageEnvelope } } },
    interactions,
  );
  api.get(
    `${CDRS}/legs/:interaction_id`,
    { schema: { tags, params: LegsParams, response: { 200: envelopeOf(Type.Array(Cdr)) } } },
    legs,
  );
  api.get(
    `${CDRS}/:cdr_id`,
    { schema: { tags, params: CdrParams, response: { 200: envelopeOf(Cdr) } } },
    oneCdr,
  );
  await app.register(uploadRoutes);
}

/** The search a list asks for, bounded by the configured range; `extraOwner` narrows it to a user. */
function listParams(req: FastifyRequest, extraOwner?: string): ListParams {
  const { store } = req.server;
  const params = parseListParams(req.query as Record<string, string>, req.accountId!, {
    maxRangeS: store.config.kazooMaxRangeS,
    now: store.now(),
  });
  if (extraOwner !== undefined)
    params.search.conditions.push({ op: 'eq', key: 'owner_id', values: [extraOwner] });
  return params;
}

/** PUT /api_auth: an API key for a token (or a one-link CSV download token). */
async function authenticate(req: FastifyRequest<{ Body: Static<typeof ApiAuthBody> }>, reply: FastifyReply) {
  const { pool, config } = req.server.store;
  const accountId = await findAccountByApiKey(pool, req.body.data.api_key);
  if (!accountId) return sendKazooError(req, reply, 401, 'invalid_credentials', INVALID_CREDENTIALS);
  const { scope } = req.body.data;
  const ttlS = scope ? config.downloadTokenTtlS : config.tokenTtlS;
  const token = await createToken(accountDb(pool, accountId), ttlS, scope);
  req.kazooToken = token;
  // Kazoo clients read the token from the envelope's auth_token, some from data (seed 003).
  const data = {
    account_id: accountId,
    auth_token: token,
    expires_in: ttlS,
    ...(scope ? { scope } : {}),
  };
  return reply.code(201).send(success(req, data));
}

/** GET …/cdrs: a page, every row (paginate=false) or CSV. */
async function listCdrs(req: FastifyRequest, reply: FastifyReply, ownerId?: string) {
  const { config } = req.server.store;
  const params = listParams(req, ownerId);
  // Long streams hold a connection while the client reads: a few per account at once (429
  // beyond), each ended when its client stops reading (src/api/long-streams.ts).
  const streams = longStreams(req.server.store, config);
  if ((wantsCsv(req) || !params.paginate) && !streams.begin(req, reply, req.accountId!)) {
    reply.header('Retry-After', String(STREAM_RETRY_AFTER_S));
    return sendKazooError(req, reply, 429, 'too_many_requests', {
      message: `at most ${config.streamsPerAccount} CSV or paginate=false streams per account at once; retry when one ends`,
    });
  }
  if (wantsCsv(req)) return sendCsv(req, reply, params);
  if (!params.paginate)
    return sendAll(req, reply, streamDocs(req.streamDb!, params.search, abandoned(reply)));
  const page = await listPage(req.db!, params.search, params.pageSize);
  return sendPage(req, reply, page);
}

/** GET …/cdrs/summary: calls, answered, ASR and minutes, optionally per hour or day. */
async function summary(req: FastifyRequest<{ Querystring: Static<typeof SummaryQuery> }>) {
  const params = listParams(req);
  return success(
    req,
    await summarize(req.db!, params.search, req.query.bucket as 'hour' | 'day' | undefined),
  );
}

/** GET …/cdrs/interaction: a page of interactions (calls grouped with their legs). */
async function interactions(req: FastifyRequest, reply: FastifyReply) {
  const params = listParams(req);
  const page = await listInteractions(req.db!, params.search, params.pageSize);
  return sendPage(req, reply, page);
}

/** GET …/cdrs/legs/:interaction_id: every leg of one interaction. */
async function legs(req: FastifyRequest<{ Params: Static<typeof LegsParams> }>, reply: FastifyReply) {
  const found = await listLegs(req.db!, req.params.interaction_id);
  if (found.length === 0) return sendKazooError(req, reply, 404, 'bad_identifier', BAD_IDENTIFIER);
  return sendRawData(req, reply, found);
}

/** GET …/cdrs/:cdr_id: one CDR. */
async function oneCdr(req: FastifyRequest<{ Params: Static<typeof CdrParams> }>, reply: FastifyReply) {
  const doc = await findCdr(req.db!, req.params.cdr_id);
  if (!doc) return sendKazooError(req, reply, 404, 'bad_identifier', BAD_IDENTIFIER);
  return sendRawData(req, reply, doc);
}

/** Uploads, in a context of their own where every body type reaches the handler as a stream. */
async function uploadRoutes(app: FastifyInstance): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  app.removeContentTypeParser([JSON_TYPE, ...JSON_ALIASES]);
  app.addContentTypeParser(UPLOAD_BODY_TYPES, (_req, payload, done) => done(null, payload));
  // The upload cap for every content type (streamed ones are also capped as they stream).
  const bodyLimit = app.store.config.uploadLimitMb * 1024 * 1024;
  api.put(CDRS, { bodyLimit, schema: { tags, params: AccountParams } }, upload);
  api.post(CDRS, { bodyLimit, schema: { tags, params: AccountParams } }, upload);
}

/** PUT/POST …/cdrs: upload of additional CDRs (seed 003), stored tagged `imported`. */
async function upload(req: FastifyRequest, reply: FastifyReply) {
  const store = req.server.store;
  const { config } = store;
  const sent = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  // curl's default form type and application/x-json carry JSON, as on Kazoo (body-types.ts).
  const type = JSON_ALIASES.includes(sent) ? JSON_TYPE : sent;
  if (!UPLOAD_BODY_TYPES.includes(type)) {
    const message = `Upload CDRs as one of: ${UPLOAD_BODY_TYPES.join(', ')}.`;
    return sendKazooError(req, reply, 415, 'unsupported_media_type', { message });
  }
  // A few uploads per account at once, taken before the body is read and a connection is
  // taken: slow senders of one tenant cannot hold the ingest pool (src/api/long-streams.ts).
  const { uploads } = accountLimits(store, config);
  if (!uploads.take(reply.raw, req.accountId!)) {
    // The body may still be arriving: close rather than read the rest.
    reply.header('Retry-After', String(SLOT_RETRY_AFTER_S)).header('Connection', 'close');
    return sendKazooError(req, reply, 429, 'too_many_requests', {
      message: `at most ${uploads.perAccount} uploads per account at once; retry when one ends`,
    });
  }
  const partial = (req.query as Record<string, string>).partial === 'true';
  const records = uploadRecords(type, req.body, config.uploadLimitMb * 1024 * 1024);
  const result = await loadRecords(store.workerPool, records, kazooDocToRecord, {
    accountId: req.accountId!,
    source: 'upload',
    imported: true,
    partial,
    window: ingestWindow(config, store.now()),
    maxNewMonths: config.newMonthsPerLoad,
    dataDir: config.dataDir,
  });
  const data = { inserted: result.inserted, duplicates: result.duplicates, rejected: result.rejected };
  if (!result.stored) return sendKazooError(req, reply, 400, 'invalid records; nothing was stored', data);
  return reply.code(201).send(success(req, data));
}
