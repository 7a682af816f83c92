// The /admin/v1 routes: accounts, their API keys and callback secrets, and the audit log. Each
// change is audited with the operator token's name and the client's address.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { BadRequestError } from '../../errors.js';
import {
  createAccount,
  createCallbackSecret,
  deleteCallbackSecret,
  enableCallbackSecret,
  listCallbackSecrets,
} from '../../store/queries/accounts.js';
import {
  issueApiKey,
  listAccountsPage,
  listApiKeys,
  revokeApiKey,
  showAccount,
  updateAccount,
  type Actor,
} from '../../store/queries/admin.js';
import { listAudit, recordAudit } from '../../store/queries/audit.js';
import { accountExists } from '../../store/queries/lifecycle.js';
import { NotFoundError } from '../../errors.js';
import { eraseAccountNumber } from '../../lifecycle/erasure.js';
import { S } from './schemas.js';

const tags = ['admin'];
/** Admin bodies are a few fields; nothing needs more. */
const bodyLimit = 16 * 1024;

/** Refuses a body field the route does not know (a typo such as `disable` must not answer 200
 * having changed nothing). Before validation: Fastify's Ajv strips unknown fields silently. */
function onlyFields(...known: string[]) {
  return async (req: FastifyRequest) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
    const unknown = Object.keys(body).filter((k) => !known.includes(k));
    if (unknown.length)
      throw new BadRequestError(`Unknown field ${unknown.join(', ')}; use ${known.join(', ')}.`);
  };
}

function actor(req: FastifyRequest): Actor {
  return { actor: `operator:${req.operator!.name}`, address: req.ip };
}

export async function adminRoutes(fastify: FastifyInstance): Promise<void> {
  accountRoutes(fastify);
  apiKeyRoutes(fastify);
  callbackSecretRoutes(fastify);
  erasureAndAuditRoutes(fastify);
}

// Operators act on every account: each group below uses the worker's pool (BYPASSRLS), never a
// request's account view.

/** Accounts: list, create (with its first API key), show, rename, disable and enable. */
function accountRoutes(fastify: FastifyInstance): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { workerPool: pool, masterKey } = app.store;

  app.get('/accounts', { schema: { tags, ...S.listAccounts } }, async (req) => {
    const page = await listAccountsPage(pool, req.query.after, req.query.limit ?? 100);
    return { data: page.accounts, next: page.next };
  });

  app.post(
    '/accounts',
    {
      bodyLimit,
      preValidation: onlyFields('name', 'retention_months'),
      schema: { tags, ...S.createAccount },
    },
    async (req, reply) => {
      const created = await createAccount(pool, masterKey, req.body.name);
      const by = actor(req);
      await recordAudit(pool, {
        account_id: created.account_id,
        action: 'account.created',
        ...by,
        detail: { name: req.body.name },
      });
      if (req.body.retention_months !== undefined)
        await updateAccount(pool, created.account_id, { retention_months: req.body.retention_months }, by);
      const [key] = await listApiKeys(pool, masterKey, created.account_id);
      reply.code(201);
      return {
        data: await showAccount(pool, created.account_id),
        api_key: { ...key, api_key: created.api_key },
      };
    },
  );

  app.get('/accounts/:account_id', { schema: { tags, ...S.showAccount } }, async (req) => ({
    data: await showAccount(pool, req.params.account_id),
  }));

  // Rename, disable or enable, set the retention and the masking, in one request or several.
  app.patch(
    '/accounts/:account_id',
    {
      bodyLimit,
      preValidation: onlyFields('name', 'disabled', 'retention_months', 'mask_digits', 'mask_exports'),
      schema: { tags, ...S.updateAccount },
    },
    async (req) => ({
      data: await updateAccount(pool, req.params.account_id, req.body, actor(req)),
    }),
  );
  app.post('/accounts/:account_id/disable', { schema: { tags, ...S.setEnabled } }, async (req) => ({
    data: await updateAccount(pool, req.params.account_id, { disabled: true }, actor(req)),
  }));
  app.post('/accounts/:account_id/enable', { schema: { tags, ...S.setEnabled } }, async (req) => ({
    data: await updateAccount(pool, req.params.account_id, { disabled: false }, actor(req)),
  }));
}

/** API keys: list, issue, revoke. */
function apiKeyRoutes(fastify: FastifyInstance): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { workerPool: pool, masterKey } = app.store;

  app.get('/accounts/:account_id/api-keys', { schema: { tags, ...S.listKeys } }, async (req) => ({
    data: await listApiKeys(pool, masterKey, req.params.account_id),
  }));
  app.post('/accounts/:account_id/api-keys', { schema: { tags, ...S.issueKey } }, async (req, reply) => {
    reply.code(201);
    return { data: await issueApiKey(pool, masterKey, req.params.account_id, actor(req)) };
  });
  app.delete(
    '/accounts/:account_id/api-keys/:key_id',
    { schema: { tags, ...S.revokeKey } },
    async (req, reply) => {
      await revokeApiKey(pool, req.params.account_id, req.params.key_id, actor(req));
      return reply.code(204).send(null);
    },
  );
}

/** Callback secrets: list, create, enable, delete. */
function callbackSecretRoutes(fastify: FastifyInstance): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { workerPool: pool, masterKey } = app.store;

  // Callback secrets: the functions `cdrex accounts callback-secret` uses, audited here.
  const auditSecret = (req: FastifyRequest, accountId: string, action: string, secretId: string) =>
    recordAudit(pool, { account_id: accountId, action, ...actor(req), detail: { secret_id: secretId } });
  app.get('/accounts/:account_id/callback-secrets', { schema: { tags, ...S.listSecrets } }, async (req) => ({
    data: await listCallbackSecrets(pool, req.params.account_id),
  }));
  app.post(
    '/accounts/:account_id/callback-secrets',
    { schema: { tags, ...S.createSecret } },
    async (req, reply) => {
      const secret = await createCallbackSecret(pool, masterKey, req.params.account_id);
      await auditSecret(req, req.params.account_id, 'callback_secret.created', secret.id);
      reply.code(201);
      return { data: secret };
    },
  );
  app.post(
    '/accounts/:account_id/callback-secrets/:secret_id/enable',
    { schema: { tags, ...S.enableSecret } },
    async (req) => {
      const secret = await enableCallbackSecret(pool, req.params.account_id, req.params.secret_id);
      await auditSecret(req, req.params.account_id, 'callback_secret.enabled', secret.id);
      return { data: secret };
    },
  );
  app.delete(
    '/accounts/:account_id/callback-secrets/:secret_id',
    { schema: { tags, ...S.deleteSecret } },
    async (req, reply) => {
      const secret = await deleteCallbackSecret(pool, req.params.account_id, req.params.secret_id);
      await auditSecret(req, req.params.account_id, 'callback_secret.deleted', secret.id);
      return reply.code(204).send(null);
    },
  );
}

/** Erasure of a number, and the audit log. */
function erasureAndAuditRoutes(fastify: FastifyInstance): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { workerPool: pool, masterKey } = app.store;

  // A subscriber's privacy request: the same erasure as `cdrex cdrs erase`, audited in its
  // transaction with this operator and address. POST, not DELETE: the number goes in the body,
  // never in a URL that proxies and access logs keep.
  app.post(
    '/accounts/:account_id/erasures',
    { bodyLimit, preValidation: onlyFields('number'), schema: { tags, ...S.erase } },
    async (req) => {
      const account = req.params.account_id;
      if (!(await accountExists(pool, account))) throw new NotFoundError(`No account has the id ${account}.`);
      const by = actor(req);
      const data = await eraseAccountNumber(pool, {
        masterKey,
        account,
        number: req.body.number,
        exportDir: app.store.config.exportDir,
        log: req.log,
        ...by,
      });
      return { data };
    },
  );

  app.get('/audit', { schema: { tags, ...S.audit } }, async (req) => {
    const page = await listAudit(pool, {
      account: req.query.account,
      action: req.query.action,
      before: req.query.before,
      limit: req.query.limit ?? 100,
    });
    return { data: page.events, next: page.next };
  });
}
