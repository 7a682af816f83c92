// Turns an upload body into a stream of raw records, without holding the body in memory:
// NDJSON/JSONL line by line, CSV row by row (header names are the field names), and JSON that is
// an array or starts with `"data": [` element by element. Any other JSON body (one CDR) is small
// and is parsed whole, within the byte cap.
import { createInterface } from 'node:readline';
import { type Duplex, finished, pipeline, Readable, Transform } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import { parser } from 'stream-json';
import { pick } from 'stream-json/filters/pick.js';
import { streamArray } from 'stream-json/streamers/stream-array.js';
import { BadRequestError, CdrexError, PayloadTooLargeError } from '../errors.js';

export const STREAMED_TYPES = ['application/x-ndjson', 'application/jsonl', 'text/csv'];
export const JSON_TYPE = 'application/json';

/** The body ended before its end: the client went away (or its stream failed). A 400, so it is
 * neither taken for the store's failure (its ECONNRESET) nor for bad JSON, and nobody is paged. */
const cutShort = (cause?: unknown) =>
  new BadRequestError(`The body was cut short (${(cause as Error | undefined)?.message ?? 'closed'}).`, {
    cause,
  });

const badJson = (detail: string) => new BadRequestError(`The body is not valid JSON: ${detail}`);

/** Fails the stream with a 413 once more than `limit` bytes came in. A body that ends early (the
 * client went away: its request is destroyed without an error event, so `pipe()` would leave the
 * stream open forever) fails it too, so whoever reads the records stops and rolls back at once. */
function capped(body: Readable, limit: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) {
        done(new PayloadTooLargeError(`The upload is larger than ${limit} bytes.`));
      } else done(null, chunk);
    },
  });
  body.pipe(out);
  // What pipe() does not pass on: the body's error, or ERR_STREAM_PREMATURE_CLOSE when it closes
  // before its end. (The body itself is left alone when `out` fails: after a 413 the server
  // answers, then closes the connection.)
  finished(body, (err) => {
    if (err) out.destroy(cutShort(err));
  });
  return out;
}

async function* ndjson(body: Readable): AsyncGenerator<unknown> {
  // readline never ends on an input that failed before it listened (the client went away while
  // the load waited for a connection): throw that failure instead.
  if (body.errored) throw body.errored;
  if (body.destroyed) throw cutShort();
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
  // pipeline(), not pipe(): a failed or abandoned body must end the loop below with its error.
  const parser = pipeline(
    body,
    parseCsv({ columns: true, skip_empty_lines: true, bom: true, relax_column_count: false }),
    () => {},
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

/** The largest JSON body parsed whole (any shape that cannot be streamed). */
export const WHOLE_JSON_LIMIT = 8 * 1024 * 1024;

/** A JSON body: streamed element by element when it is an array or `{"data": [ …`. */
async function* jsonBody(body: Readable): AsyncGenerator<unknown> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  while (head.length < 4096) {
    const next = await chunks.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  const rest = Readable.from(
    (async function* () {
      yield head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    })(),
  );
  const start = head.toString('utf8', 0, Math.min(head.length, 4096));
  const topArray = /^\s*\[/.test(start);
  const dataArray = /^\s*\{\s*"data"\s*:\s*\[/.test(start);
  if (topArray || dataArray) {
    // The stream forms of stream-json's parser, filter and streamer (Node Duplex streams).
    const stages: Duplex[] = [
      parser.asStream(),
      ...(dataArray ? [pick.asStream({ filter: 'data' })] : []),
      streamArray.asStream(),
    ];
    // pipeline() destroys every stage on error, so a parse error ends the loop below.
    const elements = pipeline([rest, ...stages], () => {}) as unknown as AsyncIterable<{
      value: unknown;
    }>;
    try {
      for await (const { value } of elements) yield value;
    } catch (err) {
      // Over the byte cap is a 413, not a parse error.
      throw err instanceof CdrexError ? err : badJson((err as Error).message);
    }
    return;
  }
  // Any other shape must be parsed whole, so it is held in memory: keep it small. Large uploads
  // stream as a top-level array, `{"data": [` first, or NDJSON.
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of rest) {
    size += (c as Buffer).length;
    if (size > WHOLE_JSON_LIMIT)
      throw new PayloadTooLargeError(
        `A JSON upload larger than ${WHOLE_JSON_LIMIT} bytes must start with "[" or {"data":[ (or be NDJSON), so that it can be streamed.`,
      );
    parts.push(c as Buffer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (err) {
    throw badJson((err as Error).message);
  }
  yield* jsonRecords(parsed);
}

export function uploadRecords(
  contentType: string,
  body: unknown,
  limitBytes: number,
): AsyncIterable<unknown> {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (!(body instanceof Readable)) {
    return (async function* () {
      yield* jsonRecords(body);
    })();
  }
  const stream = capped(body, limitBytes);
  if (type === 'text/csv') return csvRows(stream);
  if (type === JSON_TYPE) return jsonBody(stream);
  return ndjson(stream);
}
