// The portal's only way to the server: the same public APIs any client uses. Kazoo calls send the
// API key as X-Auth-Token, DIDWW calls as Api-Key. Errors become ApiError with a sentence a person
// can act on; 429s wait for Retry-After and try again.
import type { Session } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Raised on 401 so the app can sign out; set by main. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

const JSON_API = 'application/vnd.api+json';
const DIDWW_VERSION = '2026-04-16';
const MAX_RATE_RETRIES = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function request(url: string, init: RequestInit, attempt = 0): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError(0, 'cdrex cannot be reached. Check your connection and try again.');
  }
  if (res.status === 429 && attempt < MAX_RATE_RETRIES) {
    const wait = Number(res.headers.get('retry-after') ?? '1');
    await sleep(Math.min(Math.max(wait, 1), 10) * 1000);
    return request(url, init, attempt + 1);
  }
  return res;
}

/** The clearest message either dialect's error body carries. */
async function errorMessage(res: Response): Promise<string> {
  const body = (await res.json().catch(() => undefined)) as
    | {
        message?: string;
        data?: unknown;
        errors?: { title?: string; detail?: string; source?: { pointer?: string } }[];
      }
    | undefined;
  if (body?.errors?.length) {
    return body.errors
      .map((e) => {
        const field = e.source?.pointer?.split('/').pop();
        return [field, e.detail ?? e.title].filter(Boolean).join(' ');
      })
      .join('; ');
  }
  if (body?.data && typeof body.data === 'object') {
    const parts: string[] = [];
    for (const [field, rules] of Object.entries(body.data as Record<string, unknown>)) {
      if (rules && typeof rules === 'object') {
        for (const rule of Object.values(rules as Record<string, { message?: string }>)) {
          if (rule?.message) parts.push(field === 'message' ? rule.message : `${field}: ${rule.message}`);
        }
      } else if (typeof rules === 'string') parts.push(rules);
    }
    if (parts.length) return parts.join('; ');
  }
  if (res.status === 503) return 'The CDR store is not reachable right now. Try again in a moment.';
  return body?.message ?? `The server answered ${res.status}.`;
}

async function ensureOk(res: Response): Promise<Response> {
  if (res.ok) return res;
  if (res.status === 401) onUnauthorized();
  throw new ApiError(res.status, await errorMessage(res));
}

export type Query = Record<string, string | number | undefined>;

export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface KazooEnvelope<T> {
  data: T;
  next_start_key?: string;
  auth_token?: string;
}

export async function kazoo<T>(session: Session, path: string, query: Query = {}): Promise<KazooEnvelope<T>> {
  const url = `/v2/accounts/${encodeURIComponent(session.accountId)}${path}${queryString(query)}`;
  const res = await request(url, { headers: { 'X-Auth-Token': session.apiKey, Accept: 'application/json' } });
  return (await ensureOk(res)).json() as Promise<KazooEnvelope<T>>;
}

/** Checks an API key and learns its account (the Kazoo api_auth route). */
export async function signIn(apiKey: string): Promise<Session> {
  const res = await request('/v2/api_auth', {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ data: { api_key: apiKey } }),
  });
  if (res.status === 401) throw new ApiError(401, 'That API key is not valid. Check it and try again.');
  const body = (await (await ensureOk(res)).json()) as KazooEnvelope<{ account_id: string }>;
  return { apiKey, accountId: body.data.account_id };
}

/** A token for a plain link (a CSV download), so the API key never sits in a URL: it lives a
 * minute and the server takes it for a CDR list's CSV only (scope `csv_download`). */
export async function downloadToken(session: Session): Promise<string> {
  const res = await request('/v2/api_auth', {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ data: { api_key: session.apiKey, scope: 'csv_download' } }),
  });
  const body = (await (await ensureOk(res)).json()) as KazooEnvelope<unknown>;
  if (!body.auth_token) throw new ApiError(500, 'The server did not issue a download token.');
  return body.auth_token;
}

export interface Resource<A> {
  id: string;
  type: string;
  attributes: A;
}

export async function didww<T>(
  session: Session,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await request(`/v3${path}`, {
    method: init.method ?? 'GET',
    headers: {
      'Api-Key': session.apiKey,
      Accept: JSON_API,
      'X-DIDWW-API-Version': DIDWW_VERSION,
      ...(init.body ? { 'Content-Type': JSON_API } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return (await ensureOk(res)).json() as Promise<T>;
}

/** Downloads an authenticated file and hands it to the browser, under `name` when given (the
 * server's own name is the file's unguessable id, which says nothing to a person). */
export async function downloadFile(session: Session, url: string, name?: string): Promise<void> {
  const path = new URL(url, location.href).pathname;
  const res = await ensureOk(await request(path, { headers: { 'Api-Key': session.apiKey } }));
  const blob = await res.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = name ?? path.split('/').pop() ?? 'export.csv.gz';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

export function followLink(href: string, fileName?: string): void {
  const link = document.createElement('a');
  link.href = href;
  if (fileName) link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
}
