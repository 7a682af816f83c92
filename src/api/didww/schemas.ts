// TypeBox schemas of the DIDWW routes: params, query strings, bodies and responses.
import { Type } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const ExportResource = Type.Object({
  id: Type.String(),
  type: Type.String(),
  attributes: Type.Object({
    status: Type.String(),
    created_at: Type.String(),
    url: Nullable(Type.String()),
    callback_url: Nullable(Type.String()),
    callback_method: Nullable(Type.String()),
    export_type: Type.String(),
    external_reference_id: Type.Optional(Nullable(Type.String())),
    filters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
  meta: Type.Optional(Type.Object({ rows: Type.Integer(), size: Type.Integer() })),
});

export const CdrExportResource = Type.Object({
  id: Type.String(),
  type: Type.String(),
  attributes: Type.Object({
    filters: Type.Record(Type.String(), Type.String()),
    status: Type.String(),
    created_at: Type.String(),
    url: Nullable(Type.String()),
  }),
});

const Meta = Type.Object({ api_version: Type.String(), total_records: Type.Optional(Type.Integer()) });
const Links = Type.Object({
  first: Type.String(),
  last: Type.String(),
  next: Type.Optional(Type.String()),
  prev: Type.Optional(Type.String()),
});

export const singleDocument = <T extends typeof ExportResource | typeof CdrExportResource>(resource: T) =>
  Type.Object({ data: resource, meta: Meta });
export const listDocument = <T extends typeof ExportResource | typeof CdrExportResource>(resource: T) =>
  Type.Object({ data: Type.Array(resource), meta: Meta, links: Type.Optional(Links) });

export const ListQuery = Type.Object({
  sort: Type.Optional(
    Type.Union(['status', 'created_at', '-status', '-created_at'].map((s) => Type.Literal(s))),
  ),
  'page[number]': Type.Optional(Type.Integer({ minimum: 1 })),
  'page[size]': Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  'filter[external_reference_id]': Type.Optional(Type.String({ maxLength: 100 })),
});

export const IdParams = Type.Object({ id: Type.String({ maxLength: 200 }) });
export const FileParams = Type.Object({ file: Type.String({ maxLength: 200 }) });

/** Bodies are checked attribute by attribute by the request translator, which answers 422s. */
export const JsonApiBody = Type.Object({ data: Type.Unknown() }, { additionalProperties: true });

export const ErrorDocument = Type.Object({
  errors: Type.Array(
    Type.Object({
      title: Type.String(),
      detail: Type.Optional(Type.String()),
      code: Type.String(),
      status: Type.String(),
      source: Type.Optional(Type.Object({ pointer: Type.String() })),
    }),
  ),
});
