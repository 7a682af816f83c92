// Routes of one export collection: `/v3/exports` (current) or `/v3/cdr_exports` (legacy, 2017).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { NotFoundError, ValidationError, type FieldProblem } from '../../errors.js';
import { removeExport, requestExport } from '../../export/exports-service.js';
import {
  findExport,
  findLiveFile,
  listExports,
  setExternalReference,
  type ExportDialect,
  type ExportRow,
  type ExportSort,
} from '../../store/queries/exports.js';
import { recordAudit } from '../../store/queries/audit.js';
import { sendFile } from '../file-download.js';
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

export async function exportRoutes(app: FastifyInstance, opts: { dialect: ExportDialect }): Promise<void> {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { dialect } = opts;
  const legacy = dialect === 'cdr_exports';
  const base = `/${dialect}`; // under the plugin's /v3 prefix
  const fileSuffix = legacy ? '.csv' : '.csv.gz';
  const resource = legacy ? CdrExportResource : ExportResource;
  const { config } = app.store;
  const tags = [legacy ? 'DIDWW legacy CDR exports' : 'DIDWW exports'];

  const versionOf = (v: string) => (legacy ? LEGACY_VERSION : v);
  const serialize = (row: ExportRow, version: string) =>
    legacy ? cdrExportResource(row, config.publicUrl) : exportResource(row, version, config.publicUrl);
  const load = async (req: FastifyRequest, id: string) => {
    const row = UUID.test(id) ? await findExport(req.db!, req.accountId!, dialect, id) : undefined;
    if (!row) throw new NotFoundError(recordNotFound(id).errors[0].detail);
    return row;
  };
  const errors = { 400: ErrorDocument, 401: ErrorDocument, 404: ErrorDocument, 422: ErrorDocument };

  api.get(
    base,
    { schema: { tags, querystring: ListQuery, response: { 200: listDocument(resource), ...errors } } },
    async (req) => {
      const q = req.query;
      const pageSize = q['page[size]'] ?? 50;
      const pageNumber = q['page[number]'] ?? 1;
      const { rows, total } = await listExports(req.db!, {
        accountId: req.accountId!,
        dialect,
        sort: (q.sort as ExportSort | undefined) ?? '-created_at',
        pageNumber,
        pageSize,
        externalReferenceId: q['filter[external_reference_id]'],
      });
      return {
        data: rows.map((r) => serialize(r, req.apiVersion)),
        meta: { total_records: total, api_version: versionOf(req.apiVersion) },
        links: pageLinks(
          `${config.publicUrl}/v3${base}`,
          { sort: q.sort, 'filter[external_reference_id]': q['filter[external_reference_id]'] },
          { number: pageNumber, size: pageSize, total },
        ),
      };
    },
  );

  api.post(
    base,
    {
      bodyLimit: 64 * 1024,
      schema: { tags, body: JsonApiBody, response: { 201: singleDocument(resource), ...errors } },
    },
    async (req, reply) => {
      const request = parseCreateExport(req.body, req.apiVersion, dialect);
      const row = await requestExport(req.db!, req.accountId!, request, {
        now: app.store.now(),
        allowHosts: config.callbackAllowHosts,
        maxPendingExports: config.pendingExportsPerAccount,
        requestId: req.id,
      });
      reply.code(201);
      return { data: serialize(row, req.apiVersion), meta: { api_version: versionOf(req.apiVersion) } };
    },
  );

  // Downloads come before `/:id` in matching because the suffix is part of the route.
  api.get(
    `${base}/:file${fileSuffix}`,
    { config: { download: true }, schema: { tags, params: FileParams } },
    async (req, reply) => {
      const fileId = req.params.file;
      const file = UUID.test(fileId)
        ? await findLiveFile(req.db!, req.accountId!, dialect, fileId)
        : undefined;
      const sent =
        file &&
        (await sendFile(req, reply, config.exportDir, {
          fileName: file.file_name,
          size: Number(file.size),
          sha256: file.sha256,
        }));
      if (!sent) return reply.code(404).send();
      // Who took which file from where (docs/admin-api.md). A GET that sent bytes, not a HEAD, a
      // 304 or a 416. The file is already on its way, so a failed INSERT is logged, not answered.
      if (req.method === 'GET' && (reply.statusCode === 200 || reply.statusCode === 206))
        await recordAudit(req.db!, {
          account_id: req.accountId!,
          action: 'export.downloaded',
          actor: 'account:api_key',
          address: req.ip,
          detail: { file_id: fileId, file_name: file.file_name, dialect, status: reply.statusCode },
        }).catch((err: unknown) => req.log.warn({ err }, 'audit of a download failed'));
      return reply;
    },
  );

  api.get(
    `${base}/:id`,
    { schema: { tags, params: IdParams, response: { 200: singleDocument(resource), ...errors } } },
    async (req) => {
      const row = await load(req, req.params.id);
      return { data: serialize(row, req.apiVersion), meta: { api_version: versionOf(req.apiVersion) } };
    },
  );

  if (legacy) return;

  api.patch(
    `${base}/:id`,
    {
      bodyLimit: 64 * 1024,
      schema: {
        tags,
        params: IdParams,
        body: JsonApiBody,
        response: { 200: singleDocument(resource), ...errors },
      },
    },
    async (req) => {
      await load(req, req.params.id);
      const problems: FieldProblem[] = [];
      const attrs = resourceAttributes(req.body, 'exports', problems);
      const data = (req.body as { data?: { id?: unknown } }).data;
      if (data?.id !== undefined && data.id !== req.params.id)
        problems.push({ field: 'id', title: 'is invalid' });
      const reference = externalReference(attrs, problems);
      if (problems.length > 0) throw new ValidationError(problems);
      const row =
        reference === undefined
          ? await load(req, req.params.id)
          : await setExternalReference(req.db!, req.accountId!, dialect, req.params.id, reference);
      if (!row) throw new NotFoundError(recordNotFound(req.params.id).errors[0].detail);
      return { data: serialize(row, req.apiVersion), meta: { api_version: versionOf(req.apiVersion) } };
    },
  );

  api.delete(`${base}/:id`, { schema: { tags, params: IdParams } }, async (req, reply) => {
    const found =
      UUID.test(req.params.id) &&
      (await removeExport(req.db!, config.exportDir, req.accountId!, dialect, req.params.id));
    if (!found) throw new NotFoundError(recordNotFound(req.params.id).errors[0].detail);
    return reply.code(204).send();
  });
}
