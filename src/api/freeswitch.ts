// POST /ingest/freeswitch: the CDR FreeSWITCH's mod_json_cdr posts at hangup, in any of its three
// encodings, authenticated per account with HTTP Basic `account_id:api_key`. Answers 200 (what
// mod_json_cdr counts as delivered) with the counts and the stored CDR's id and start. mod_json_cdr treats every other status alike
// (4xx or 5xx): it retries `retries` times, `delay` seconds apart, then writes the CDR to its
// `err-log-dir`, so a CDR we refuse (400: malformed, or a time outside the ingestion window) is
// never retried forever; it waits in that directory for an operator.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { kazooId } from '../formats/kazoo.js';
import { loadFreeswitchCdr, parseFreeswitchJson } from '../ingest/freeswitch.js';
import { ingestWindow } from '../ingest/window.js';
import { BadRequestError } from '../errors.js';
import { findAccountByApiKey } from '../store/queries/accounts.js';
import { requireAccount } from './auth.js';
import { classify, logAndHint, type ErrorKind } from './errors.js';

const FORM = 'application/x-www-form-urlencoded';
const BASE64_FORM = 'application/x-www-form-base64-encoded';

function basicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  return at < 0 ? undefined : { user: decoded.slice(0, at), password: decoded.slice(at + 1) };
}

/** The CDR JSON inside a form body: `cdr=<url-encoded JSON>` or `cdr=<base64 JSON>`. */
function formCdr(body: string, base64: boolean): unknown {
  const field = new URLSearchParams(body).get('cdr') ?? (base64 ? body.replace(/^cdr=/, '') : null);
  if (field === null) throw new BadRequestError('The form has no cdr field.');
  const json = base64 ? Buffer.from(field.replace(/ /g, '+'), 'base64').toString('utf8') : field;
  try {
    return parseFreeswitchJson(json);
  } catch {
    throw new BadRequestError('The cdr field is not valid JSON.');
  }
}

/** Where the switch's error says something else than classify's message. */
const FREESWITCH_MESSAGES: Partial<Record<ErrorKind, string>> = {
  timeout: 'store unavailable; retry later',
  unavailable: 'store unavailable; retry later',
  bad_input: 'a value in the CDR is not valid',
  unsupported_media_type: `Post the CDR as one of: application/json, ${FORM} (cdr=…), ${BASE64_FORM}.`,
  internal: 'internal error',
};

// Kept whole on purpose: its parsers, hook, error handler and route belong to one encapsulated
// Fastify context and only apply together.
export async function freeswitchIngest(app: FastifyInstance): Promise<void> {
  const { pool, config } = app.store;
  // In this plugin only: a repeated `callflow` key keeps every profile (see parseFreeswitchJson).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseFreeswitchJson(body as string));
    } catch {
      done(new BadRequestError('The body is not valid JSON.'), undefined);
    }
  });
  app.addContentTypeParser([FORM, BASE64_FORM], { parseAs: 'string' }, (req, body, done) => {
    try {
      done(null, formCdr(body as string, req.headers['content-type']?.startsWith(BASE64_FORM) ?? false));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  const fail = (reply: FastifyReply, status: number, error: string) => reply.code(status).send({ error });

  requireAccount(app, {
    async identify(req) {
      const creds = basicAuth(req.headers.authorization);
      const accountId = creds ? await findAccountByApiKey(pool, creds.password) : undefined;
      return creds && accountId && accountId === creds.user ? { accountId } : undefined;
    },
    refuse: (_req, reply) =>
      fail(reply.header('WWW-Authenticate', 'Basic realm="cdrex"'), 401, 'invalid credentials'),
    // A switch's posts have a rate limit of their own (the route's config), not request slots.
    holdsSlot: () => false,
  });

  app.setErrorHandler((err, req, reply) => {
    const c = classify(err);
    // The store cannot keep up or is gone: 503 with Retry-After, and the switch retries later.
    logAndHint(req, reply, c, err);
    return fail(reply, c.status, FREESWITCH_MESSAGES[c.kind] ?? c.message);
  });

  const body = Type.Object({}, { additionalProperties: true });
  const FS_BODY_LIMIT_MB = 16;
  const route = {
    schema: { body },
    // A switch posts one CDR per call: its own body cap and its own rate limit per account, far
    // above the query API's, so a busy switch is never throttled like a client. The body is
    // parsed whole, so the cap is the upload one but never above 16 MiB (a CDR with every
    // channel variable and SDP is some tens of KiB).
    bodyLimit: Math.min(config.uploadLimitMb, FS_BODY_LIMIT_MB) * 1024 * 1024,
    config: {
      rateLimit: {
        max: config.ingestRateLimit,
        timeWindow: 1000,
        keyGenerator: (req: FastifyRequest) => `ingest:${req.accountId ?? req.ip}`,
      },
    },
  };
  app.post('/ingest/freeswitch', route, async (req, reply) => {
    // As the worker role, for the account authenticated above (see loadFreeswitchCdr).
    const result = await loadFreeswitchCdr(app.store.workerPool, req.body, {
      accountId: req.accountId!,
      window: ingestWindow(config, app.store.now()),
      maxNewMonths: config.newMonthsPerLoad,
      config,
    });
    if (!result.stored || !result.record)
      return fail(reply, 400, result.rejected[0]?.reason ?? 'invalid CDR');
    // Which CDR this is, so an operator can find a test post (GET /v2/accounts/…/cdrs/<id>); a
    // duplicate names the CDR stored before, which has the same key, hence the same id.
    const { kind, time_start: start, call_id: callId, attempt } = result.record;
    const timeStart = start.toISOString();
    return reply.code(200).send({
      inserted: result.inserted,
      duplicates: result.duplicates,
      duplicate: result.duplicates > 0,
      id: kazooId({ kind, timeStart, callId, attempt }),
      time_start: timeStart,
    });
  });
}
