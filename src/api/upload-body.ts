// Turns an upload body into a stream of raw records, without holding the body in memory:
// NDJSON/JSONL line by line, CSV row by row (header names are the field names). A JSON body
// (one object or {"data":[…]}) is parsed whole by Fastify, within the body limit.
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';

export const STREAMED_TYPES = ['application/x-ndjson', 'application/jsonl', 'text/csv'];

/** Fails the stream with a 413 once more than `limit` bytes came in. */
function capped(body: Readable, limit: number): Readable {
  let seen = 0;
  return body.pipe(
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > limit) {
          done(Object.assign(new Error(`The upload is larger than ${limit} bytes.`), { statusCode: 413 }));
        } else done(null, chunk);
      },
    }),
  );
}

async function* ndjson(body: Readable): AsyncGenerator<unknown> {
  const lines = createInterface({ input: body, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as unknown;
    } catch {
      yield new Error(`line ${n} is not valid JSON`);
    }
  }
}

async function* csvRows(body: Readable): AsyncGenerator<unknown> {
  const parser = body.pipe(
    parseCsv({ columns: true, skip_empty_lines: true, bom: true, relax_column_count: false }),
  );
  for await (const row of parser) {
    // Empty cells are absent fields, as Kazoo's own CSV writes them.
    yield Object.fromEntries(Object.entries(row as Record<string, string>).filter(([, v]) => v !== ''));
  }
}

function jsonRecords(body: unknown): unknown[] {
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && 'data' in body) {
    const data = (body as { data: unknown }).data;
    return Array.isArray(data) ? data : [data];
  }
  return Array.isArray(body) ? body : [body];
}

export function uploadRecords(
  contentType: string,
  body: unknown,
  limitBytes: number,
): AsyncIterable<unknown> {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'text/csv') return csvRows(capped(body as Readable, limitBytes));
  if (STREAMED_TYPES.includes(type)) return ndjson(capped(body as Readable, limitBytes));
  return (async function* () {
    yield* jsonRecords(body);
  })();
}
