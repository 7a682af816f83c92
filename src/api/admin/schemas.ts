// TypeBox schemas of the /admin/v1 routes. They validate requests, serialise responses and are
// the source of /admin/v1/openapi.json, so every route's answers are described by them.
import { type Static, Type } from '@sinclair/typebox';

const Id = Type.String({ pattern: '^[0-9a-f]{32}$', description: 'An account id.' });
const Uuid = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });
// `nullable` rather than a union with Type.Null(): the app's Ajv coerces types, and a union's null
// branch turned 0 and false into null, so {"mask_digits": 0} switched masking off (round-3 test).
const Nullable = <T extends ReturnType<typeof Type.String | typeof Type.Integer>>(t: T) =>
  Type.Unsafe<Static<T> | null>({ ...t, nullable: true });
/** At least DIDWW's three-month window; null follows CDREX_CDR_RETENTION_MONTHS. */
const Retention = Nullable(Type.Integer({ minimum: 3, maximum: 1200 }));
const Name = Type.String({ minLength: 1, maxLength: 200 });
const MaskDigits = Type.Integer({
  minimum: 1,
  maximum: 10,
  description: "How many of a caller number's last digits the Kazoo API, portal and Kazoo CSV show as X.",
});

export const ErrorBody = Type.Object({ error: Type.String() });
const errors = {
  400: ErrorBody,
  401: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
};

export const Account = Type.Object({
  account_id: Id,
  name: Type.String(),
  created_at: Time,
  disabled: Type.Boolean(),
  disabled_at: Nullable(Time),
  retention_months: Retention,
  mask_digits: Nullable(MaskDigits),
  mask_exports: Type.Boolean({ description: 'DIDWW export files masked too (else byte-exact).' }),
  keys: Type.Integer({ description: 'How many API keys the account has.' }),
});

const ApiKey = Type.Object({
  id: Uuid,
  created_at: Time,
  last4: Type.String({ description: "The key's last four characters; the key itself is never shown again." }),
});
const NewApiKey = Type.Intersect([ApiKey, Type.Object({ api_key: Type.String() })]);

const CallbackSecret = Type.Object({ id: Uuid, created_at: Time, enabled: Type.Boolean() });

const AuditEvent = Type.Object({
  id: Type.String({ description: 'Increasing; the keyset cursor.' }),
  at: Time,
  account_id: Nullable(Id),
  action: Type.String(),
  actor: Type.String(),
  address: Nullable(Type.String()),
  detail: Type.Record(Type.String(), Type.Unknown()),
});

/** What an erasure changed; never the number itself. */
const Erasure = Type.Object({
  account_id: Id,
  pseudonym: Type.String({ description: 'erased-<12 hex>: what now stands where the number was.' }),
  number_hash: Type.String({ description: 'HMAC-SHA256 of the account and number (the audit record).' }),
  cdrs: Type.Integer({ description: 'CDRs that held the number and now hold the pseudonym.' }),
  exports: Type.Integer({ description: 'Exports whose filters (or DID number) named it: rewritten.' }),
  export_files: Type.Integer({ description: 'Export files that held it: expired (deleted, url null).' }),
});

const Limit = Type.Integer({ minimum: 1, maximum: 1000, default: 100 });
const AccountParams = Type.Object({ account_id: Id });

export const S = {
  listAccounts: {
    querystring: Type.Object({ after: Type.Optional(Id), limit: Type.Optional(Limit) }),
    response: { 200: Type.Object({ data: Type.Array(Account), next: Nullable(Id) }), ...errors },
  },
  createAccount: {
    body: Type.Object(
      { name: Name, retention_months: Type.Optional(Retention) },
      { additionalProperties: false },
    ),
    response: { 201: Type.Object({ data: Account, api_key: NewApiKey }), ...errors },
  },
  showAccount: { params: AccountParams, response: { 200: Type.Object({ data: Account }), ...errors } },
  updateAccount: {
    params: AccountParams,
    body: Type.Object(
      {
        name: Type.Optional(Name),
        disabled: Type.Optional(Type.Boolean()),
        retention_months: Type.Optional(Retention),
        mask_digits: Type.Optional(Nullable(MaskDigits)),
        mask_exports: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
    response: { 200: Type.Object({ data: Account }), ...errors },
  },
  setEnabled: { params: AccountParams, response: { 200: Type.Object({ data: Account }), ...errors } },
  listKeys: {
    params: AccountParams,
    response: { 200: Type.Object({ data: Type.Array(ApiKey) }), ...errors },
  },
  issueKey: { params: AccountParams, response: { 201: Type.Object({ data: NewApiKey }), ...errors } },
  revokeKey: {
    params: Type.Object({ account_id: Id, key_id: Uuid }),
    response: { 204: Type.Null(), ...errors },
  },
  listSecrets: {
    params: AccountParams,
    response: { 200: Type.Object({ data: Type.Array(CallbackSecret) }), ...errors },
  },
  createSecret: {
    params: AccountParams,
    response: {
      201: Type.Object({ data: Type.Intersect([CallbackSecret, Type.Object({ secret: Type.String() })]) }),
      ...errors,
    },
  },
  enableSecret: {
    params: Type.Object({ account_id: Id, secret_id: Uuid }),
    response: { 200: Type.Object({ data: CallbackSecret }), ...errors },
  },
  deleteSecret: {
    params: Type.Object({ account_id: Id, secret_id: Uuid }),
    response: { 204: Type.Null(), ...errors },
  },
  erase: {
    params: AccountParams,
    body: Type.Object(
      {
        number: Type.String({
          pattern: '^\\+?[1-9][0-9]{5,14}$',
          description: 'E.164, with or without the +: 6 to 15 digits.',
        }),
      },
      { additionalProperties: false },
    ),
    response: { 200: Type.Object({ data: Erasure }), ...errors },
  },
  audit: {
    querystring: Type.Object({
      account: Type.Optional(Id),
      action: Type.Optional(Type.String({ maxLength: 100 })),
      before: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })),
      limit: Type.Optional(Limit),
    }),
    response: {
      200: Type.Object({ data: Type.Array(AuditEvent), next: Nullable(Type.String()) }),
      ...errors,
    },
  },
};
