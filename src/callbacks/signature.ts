// The DIDWW callback signature: lowercase hex HMAC-SHA1 keyed with the account's enabled callback
// secret (DIDWW's 2026-04-16 SDKs), else its API key, over the normalized URL followed by the
// params sorted by key, each written as key + value. The key changes, the algorithm does not.

import { createHmac } from 'node:crypto';

/**
 * `scheme://[user[:pass]@]host:port/path[?query][#fragment]`, the port always written (80/443
 * by default); a URL without a scheme is taken as http://.
 */
export function normalizeUrl(raw: string): string {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const userInfo = url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
  return `${url.protocol}//${userInfo}${url.hostname}:${port}${url.pathname}${url.search}${url.hash}`;
}

export function signString(key: string, data: string): string {
  return createHmac('sha1', key).update(data, 'utf8').digest('hex');
}

export function signCallback(key: string, url: string, params: Record<string, string>): string {
  const sorted = Object.keys(params)
    .sort()
    .map((k) => `${k}${params[k]}`)
    .join('');
  return signString(key, normalizeUrl(url) + sorted);
}

/** The URL a GET callback is sent to: the params appended to its query, before any fragment. */
export function appendQuery(url: string, params: Record<string, string>): string {
  const hashAt = url.indexOf('#');
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const fragment = hashAt >= 0 ? url.slice(hashAt) : '';
  const query = new URLSearchParams(params).toString();
  const sep = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${sep}${query}${fragment}`;
}
