// The web portal: the files `npm run build` writes to web/dist, served at `/`. Hashed assets are
// cached for a year (their names change with their content); index.html is revalidated each time
// so a deploy is picked up on the next load. The portal talks to the public APIs only.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const PORTAL_DIR = path.resolve(fileURLToPath(import.meta.url), '../../../web/dist');

const CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data: blob:",
  // uPlot positions its legend and cursor with inline styles.
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export async function portal(app: FastifyInstance, options: { root?: string }): Promise<void> {
  const root = options.root ?? PORTAL_DIR;
  if (!existsSync(path.join(root, 'index.html'))) {
    app.get('/', { config: { rateLimit: false } }, async (_req, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The portal has not been built: run `npm run build`, then restart cdrex.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders(res, filePath) {
      const hashed = filePath.includes(`${path.sep}assets${path.sep}`);
      res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (filePath.endsWith('.html')) {
        res.setHeader('Content-Security-Policy', CSP);
        res.setHeader('Referrer-Policy', 'no-referrer');
      }
    },
  });
}
