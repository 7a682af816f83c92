// HTTP for the tests: one way to send a request and read its whole answer, and the two dialects'
// credentials on top of it. Test files keep only what is particular to them (their defaults).
import assert from 'node:assert/strict';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A whole answer: `json` is the parsed body, or undefined when the body is not JSON (CSV, empty). */
export interface Answer<T = Json> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A string goes as is; anything else as JSON. */
  body?: unknown;
  /** The Content-Type of a body, unless `headers` names one (default application/json). */
  type?: string;
}

/** Sends one request and reads the answer to its end. */
export async function send<T = Json>(url: string, options: SendOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    const named = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
    if (!named) headers['Content-Type'] = options.type ?? 'application/json';
  }
  const res = await fetch(url, { method: options.method ?? 'GET', headers, body });
  const text = await res.text();
  let json: T | undefined;
  try {
    json = JSON.parse(text) as T;
  } catch {
    // not JSON: the caller reads `text`
  }
  return { status: res.status, headers: res.headers, text, json: json as T };
}

/** Kazoo: requests carry `X-Auth-Token` (an API key or an api_auth token); `token: null` sends
 * none, undefined sends the client's default. */
export function kazooClient<T = Json>(base: string, defaultToken?: string) {
  return (method: string, path: string, options: SendOptions & { token?: string | null } = {}) => {
    const token = options.token === undefined ? defaultToken : options.token;
    const headers = { ...options.headers, ...(token ? { 'X-Auth-Token': token } : {}) };
    return send<T>(`${base}${path}`, { ...options, method, headers });
  };
}

export const JSON_API = 'application/vnd.api+json';

/** DIDWW: requests carry `Api-Key` and speak JSON:API; `key: null` sends no key. */
export function didwwClient<T = Json>(base: string, defaultKey?: string) {
  return (method: string, path: string, options: SendOptions & { key?: string | null } = {}) => {
    const key = options.key === undefined ? defaultKey : options.key;
    const headers = { Accept: JSON_API, ...options.headers, ...(key ? { 'Api-Key': key } : {}) };
    return send<T>(`${base}${path}`, { type: JSON_API, ...options, method, headers });
  };
}

/** A UUID as cdrex prints them (lower case). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every 429 says when to come back: a whole number of seconds, at least 1. */
export function assertRetryAfter(res: { headers: Headers }): void {
  const value = res.headers.get('retry-after');
  assert.ok(value !== null, 'a 429 without Retry-After');
  assert.match(value, /^[1-9]\d*$/, `Retry-After ${value}`);
}
