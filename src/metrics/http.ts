// Serving /metrics: on `cdrex serve`'s own port (a route, see app.ts) and on a small listener of
// its own (CDREX_METRICS_PORT) for `cdrex worker`, which has no HTTP server otherwise, and for
// operators who keep metrics off the public port. With CDREX_METRICS_TOKEN set, a scrape must send
// `Authorization: Bearer <token>`; anything else gets 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from '../log.js';
import type { Scraper } from './scrape.js';

export interface MetricsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Compares digests, so neither the token's length nor its bytes show in the time taken. */
function bearerMatches(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (!presented) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

export async function answerMetrics(
  scraper: Scraper,
  token: string | undefined,
  authorization: string | undefined,
): Promise<MetricsAnswer> {
  if (token && !bearerMatches(authorization, token)) {
    return {
      status: 401,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'www-authenticate': 'Bearer realm="cdrex metrics"',
      },
      body: 'Send the metrics token (CDREX_METRICS_TOKEN) as Authorization: Bearer <token>.\n',
    };
  }
  return { status: 200, headers: { 'content-type': scraper.contentType }, body: await scraper.render() };
}

/** The small listener: GET /metrics and GET /livez, nothing else. Resolves once it listens. */
export async function listenForMetrics(
  scraper: Scraper,
  options: { host: string; port: number; token: string | undefined; log: Logger },
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/livez')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found.\n');
      return;
    }
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"live"}');
      return;
    }
    answerMetrics(scraper, options.token, req.headers.authorization).then(
      (answer) => res.writeHead(answer.status, answer.headers).end(answer.body),
      (err: unknown) => {
        options.log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Scrape failed.\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  options.log.info({ host: options.host, port: options.port }, 'metrics listening');
  return server;
}
