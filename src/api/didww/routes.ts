// Routes of one export collection: `/v3/exports` (current) or `/v3/cdr_exports` (legacy, 2017).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { NotFoundError, ValidationError, type FieldProblem } from '../../errors.js';
import { removeExport, requestExport } from '../../export/exports-service.js';
import {
  findExport,
  findLiveFile,
  listExports,
  setExternalReference,
  type ExportCollection,
  type ExportRow,
  type ExportSort,
} from '../../store/queries/exports.js';
import { recordAudit } from '../../store/queries/audit.js';
import { sendFile } from '../file-download.js';
import { exportFormat } from '../../export/export-format.js';
import { externalReference, parseCreateExport, resourceAttributes } from './export-request.js';
import { recordNotFound } from './json-api.js';
import {
  CdrExportResource,
  ErrorDocument,
  ExportResource,
  FileParams,
  IdParams,
  JsonApiBody,
  ListQuery,
  listDocument,
  singleDocument,
} from './schemas.js';
import { cdrExportResource, exportResource, pageLinks } from './serialize.js';
import { LEGACY_VERSION } from './versions.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BODY_LIMIT = 64 * 1024;
const errors = { 400: ErrorDocument, 401: ErrorDocument, 404: ErrorDocument, 422: ErrorDocument };

type Resource = ReturnType<typeof exportResource> | ReturnType<typeof cdrExportResource>;

/** One export collection as its handlers see it. */
interface Collection {
  dialect: ExportCollection;
  /** `/exports` or `/cdr_exports`, under the plugin's /v3 prefix. */
  base: string;
  /** The JSON:API document of one export, in the request's API version. */
  document: (req: FastifyRequest, row: ExportRow) => { data: Resource; meta: { api_version: string } };
  serialize: (req: FastifyRequest, row: ExportRow) => Resource;
  versionOf: (req: FastifyRequest) => string;
  /** The request account's export `id`; NotFoundError when it has none (or `id` is no UUID). */
  load: (req: FastifyRequest, id: string) => Promise<ExportRow>;
}

function collection(dialect: ExportCollection): Collection {
  const legacy = dialect === 'cdr_exports';
  // The public URL is read per request: a test's server learns its port after the routes exist.
  const serialize = (req: FastifyRequest, row: ExportRow): Resource => {
    const { publicUrl } = req.server.store.config;
    return legacy ? cdrExportResource(row, publicUrl) : exportResource(row, req.apiVersion, publicUrl);
  };
  const versionOf = (req: FastifyRequest) => (legacy ? LEGACY_VERSION : req.apiVersion);
  return {
    dialect,
    base: `/${dialect}`,
    serialize,
    versionOf,
    document: (req, row) => ({ data: serialize(req, row), meta: { api_version: versionOf(req) } }),
    load: async (req, id) => {
      const row = UUID.test(id) ? await findExport(req.db!, req.accountId!, dialect, id) : undefined;
      if (!row) throw notFound(id);
      return row;
    },
  };
}

const notFound = (id: string) => new NotFoundError(recordNotFound(id).errors[0].detail);

export async function exportRoutes(app: FastifyInstance, opts: { dialect: ExportCollection }): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const c = collection(opts.dialect);
  const legacy = opts.dialect === 'cdr_exports';
  const resource = legacy ? CdrExportResource : ExportResource;
  const one = { 200: singleDocument(resource), ...errors };
  const tags = [legacy ? 'DIDWW legacy CDR exports' : 'DIDWW exports'];

  api.get(
    c.base,
    { schema: { tags, querystring: ListQuery, response: { 200: listDocument(resource), ...errors } } },
    list(c),
  );
  api.post(
    c.base,
    { bodyLimit: BODY_LIMIT, schema: { tags, body: JsonApiBody, response: { 201: one[200], ...errors } } },
    create(c),
  );
  // Downloads come before `/:id` in matching because the suffix is part of the route.
  api.get(
    `${c.base}/:file${exportFormat(c.dialect).suffix}`,
    { config: { download: true }, schema: { tags, params: FileParams } },
    download(c),
  );
  api.get(`${c.base}/:id`, { schema: { tags, params: IdParams, response: one } }, show(c));
  if (legacy) return;
  api.patch(
    `${c.base}/:id`,
    { bodyLimit: BODY_LIMIT, schema: { tags, params: IdParams, body: JsonApiBody, response: one } },
    update(c),
  );
  api.delete(`${c.base}/:id`, { schema: { tags, params: IdParams } }, remove(c));
}

/** GET: a page of the account's exports, sorted and filtered by external reference. */
function list(c: Collection) {
  return async (req: FastifyRequest<{ Querystring: Static<typeof ListQuery> }>) => {
    const { publicUrl } = req.server.store.config;
    const q = req.query;
    const pageSize = q['page[size]'] ?? 50;
    const pageNumber = q['page[number]'] ?? 1;
    const { rows, total } = await listExports(req.db!, {
      accountId: req.accountId!,
      dialect: c.dialect,
      sort: (q.sort as ExportSort | undefined) ?? '-created_at',
      pageNumber,
      pageSize,
      externalReferenceId: q['filter[external_reference_id]'],
    });
    return {
      data: rows.map((r) => c.serialize(req, r)),
      meta: { total_records: total, api_version: c.versionOf(req) },
      links: pageLinks(
        `${publicUrl}/v3${c.base}`,
        { sort: q.sort, 'filter[external_reference_id]': q['filter[external_reference_id]'] },
        { number: pageNumber, size: pageSize, total },
      ),
    };
  };
}

/** POST: request an export (201 with it, queued). */
function create(c: Collection) {
  return async (req: FastifyRequest<{ Body: Static<typeof JsonApiBody> }>, reply: FastifyReply) => {
    const { store } = req.server;
    const request = parseCreateExport(req.body, req.apiVersion, c.dialect);
    const row = await requestExport(req.db!, req.accountId!, request, {
      now: store.now(),
      allowHosts: store.config.callbackAllowHosts,
      maxPendingExports: store.config.pendingExportsPerAccount,
      requestId: req.id,
    });
    reply.code(201);
    return c.document(req, row);
  };
}

/** GET/HEAD of a finished export's file, with ranges and validators; every download is audited. */
function download(c: Collection) {
  return async (req: FastifyRequest<{ Params: Static<typeof FileParams> }>, reply: FastifyReply) => {
    const fileId = req.params.file;
    const file = UUID.test(fileId)
      ? await findLiveFile(req.db!, req.accountId!, c.dialect, fileId)
      : undefined;
    if (!file) return reply.code(404).send();
    // Who took which file from where (docs/admin-api.md): written before the bytes go out, so a
    // client holding the whole file finds the event. A failed INSERT is logged, not answered:
    // the download itself is sound.
    const audit = (status: 200 | 206) =>
      recordAudit(req.db!, {
        account_id: req.accountId!,
        action: 'export.downloaded',
        actor: 'account:api_key',
        address: req.ip,
        detail: { file_id: fileId, file_name: file.file_name, dialect: c.dialect, status },
      }).catch((err: unknown) => req.log.warn({ err }, 'audit of a download failed'));
    const sent = await sendFile(
      req,
      reply,
      req.server.store.config.exportDir,
      {
        fileName: file.file_name,
        size: Number(file.size),
        sha256: file.sha256,
        contentType: exportFormat(c.dialect).contentType,
      },
      audit,
    );
    if (!sent) return reply.code(404).send();
    return reply;
  };
}

/** GET /:id: one export. */
function show(c: Collection) {
  return async (req: FastifyRequest<{ Params: Static<typeof IdParams> }>) =>
    c.document(req, await c.load(req, req.params.id));
}

/** PATCH /:id: only `external_reference_id` can change (422 for anything else). */
function update(c: Collection) {
  return async (
    req: FastifyRequest<{ Params: Static<typeof IdParams>; Body: Static<typeof JsonApiBody> }>,
  ) => {
    const { id } = req.params;
    await c.load(req, id);
    const problems: FieldProblem[] = [];
    const attrs = resourceAttributes(req.body, 'exports', problems);
    const data = (req.body as { data?: { id?: unknown } }).data;
    if (data?.id !== undefined && data.id !== id) problems.push({ field: 'id', title: 'is invalid' });
    const reference = externalReference(attrs, problems);
    if (problems.length > 0) throw new ValidationError(problems);
    const row =
      reference === undefined
        ? await c.load(req, id)
        : await setExternalReference(req.db!, req.accountId!, c.dialect, id, reference);
    if (!row) throw notFound(id);
    return c.document(req, row);
  };
}

/** DELETE /:id: the export and its file (204). */
function remove(c: Collection) {
  return async (req: FastifyRequest<{ Params: Static<typeof IdParams> }>, reply: FastifyReply) => {
    const { id } = req.params;
    const found =
      UUID.test(id) &&
      (await removeExport(req.db!, req.server.store.config.exportDir, req.accountId!, c.dialect, id));
    if (!found) throw notFound(id);
    return reply.code(204).send();
  };
}
