// Sends one callback: GET with the params in the query string, or POST with a form body; signed
// with X-DIDWW-Signature. Success is a 2xx answer within the timeout; redirects are not followed.
import type dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { coerceError } from '../errors.js';
import { guardedLookup, hostAllowed, isRefusedAddress } from './address-guard.js';
import { appendQuery, signCallback } from './signature.js';

export interface CallbackRequest {
  url: string;
  method: 'GET' | 'POST';
  params: Record<string, string>;
  /** The account's enabled callback secret, else its API key (see readCallbackSigningKey). */
  signingKey: string;
  timeoutMs: number;
  allowHosts: string[];
  /** Aborts the delivery (worker shutdown, lost lease). */
  signal?: AbortSignal;
}

export interface CallbackOutcome {
  ok: boolean;
  status?: number;
  error?: string;
}

const MAX_BODY = 64 * 1024;

export function deliverCallback(req: CallbackRequest): Promise<CallbackOutcome> {
  const target = req.method === 'GET' ? appendQuery(req.url, req.params) : req.url;
  // For GET the signed URL is the one with the params appended, and the params are signed too
  // (the contract's fourth test vector shows both).
  const signature = signCallback(req.signingKey, target, req.params);
  const url = new URL(target);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && isRefusedAddress(host) && !hostAllowed(host, req.allowHosts)) {
    return Promise.resolve({ ok: false, error: `Callback address ${host} is internal; not delivered.` });
  }
  const body = req.method === 'POST' ? new URLSearchParams(req.params).toString() : undefined;
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const request = transport.request(
      url,
      {
        method: req.method,
        lookup: guardedLookup(req.allowHosts) as unknown as typeof dns.lookup,
        headers: {
          'User-Agent': 'cdrex-callbacks',
          'X-DIDWW-Signature': signature,
          ...(body
            ? {
                'Content-Type': 'application/x-www-form-urlencoded',
                'Content-Length': Buffer.byteLength(body),
              }
            : {}),
        },
        signal: AbortSignal.timeout(req.timeoutMs),
      },
      (res) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_BODY) res.destroy();
        });
        const finish = () => {
          const status = res.statusCode ?? 0;
          resolve({
            ok: status >= 200 && status < 300,
            status,
            error: status >= 300 ? `HTTP ${status}` : undefined,
          });
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    request.on('error', (err) => resolve({ ok: false, error: err.message }));
    // Not AbortSignal.any(): on Node 20 its timeout source can be collected and never fire.
    const stop = () => request.destroy(coerceError(req.signal?.reason));
    req.signal?.addEventListener('abort', stop, { once: true });
    request.on('close', () => req.signal?.removeEventListener('abort', stop));
    if (body) request.write(body);
    request.end();
  });
}
