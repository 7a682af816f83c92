// Serves an export file: Content-Length, a strong ETag (the SHA-256 computed while the file was
// written), If-None-Match (304), one byte Range (206, or 416 with `bytes */size`) honoured only
// while If-Range still matches, and HEAD (Fastify answers HEAD with the GET handler, minus body).
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import parseRange from 'range-parser';
import { countDelivery } from '../metrics/registry.js';

export interface DownloadableFile {
  fileName: string;
  size: number;
  sha256: string;
  /** The export format's (src/export/export-format.ts). */
  contentType: string;
}

/**
 * Awaited before a GET's bytes (200 or 206) go out, never for HEAD, 304 or 416: a record made
 * here is committed before the client can have the file, so whoever reads the audit after a
 * finished download finds it.
 */
export type BeforeBody = (status: 200 | 206) => Promise<void>;

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}

/** Sends the file, or false when it is no longer on disk (deleted meanwhile). */
export async function sendFile(
  req: FastifyRequest,
  reply: FastifyReply,
  exportDir: string,
  file: DownloadableFile,
  beforeBody: BeforeBody,
): Promise<boolean> {
  const fullPath = path.join(exportDir, file.fileName);
  const stat = await fs.promises.stat(fullPath).catch(() => undefined);
  if (!stat?.isFile()) return false;
  const size = stat.size;
  const etag = `"${file.sha256}"`;
  reply
    .header('Content-Type', file.contentType)
    .header('Content-Disposition', `attachment; filename="${file.fileName}"`)
    .header('ETag', etag)
    .header('Accept-Ranges', 'bytes')
    .header('Cache-Control', 'private, no-cache');

  if (etagMatches(req.headers['if-none-match'], etag)) {
    reply.code(304).send();
    return true;
  }
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (rangeHeader && (!ifRange || ifRange === etag)) {
    const ranges = parseRange(size, rangeHeader, { combine: true });
    if (ranges === -1) {
      reply.code(416).header('Content-Range', `bytes */${size}`).send();
      return true;
    }
    if (Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1) {
      const { start, end } = ranges[0];
      if (req.method === 'GET') {
        countDelivery(reply.raw, 'didww_download');
        await beforeBody(206);
      }
      reply
        .code(206)
        .header('Content-Range', `bytes ${start}-${end}/${size}`)
        .header('Content-Length', end - start + 1)
        .send(fs.createReadStream(fullPath, { start, end }));
      return true;
    }
    // Several ranges or a malformed header: the whole file, as RFC 9110 allows.
  }
  if (req.method === 'GET') {
    countDelivery(reply.raw, 'didww_download');
    await beforeBody(200);
  }
  reply.code(200).header('Content-Length', size).send(fs.createReadStream(fullPath));
  return true;
}
