// Opens an import input: a file or `-` (stdin), gunzipped when it starts with the gzip magic,
// without a UTF-8 byte-order mark (spreadsheets save CSV with one), and watched: its lines are
// counted (progress) and its first line kept (to say what a file of the wrong --type is).
import fs from 'node:fs';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

const isGzip = (head: Buffer) => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** The first line is kept up to this length: enough for any header cdrex knows. */
const FIRST_LINE_MAX = 64 * 1024;
const NEWLINE = 0x0a;

/** The input's bytes, passed on unchanged but for a leading BOM. */
export class WatchedInput extends Transform {
  /** Newlines seen so far (a CSV's rows, header included, unless cells hold line breaks). */
  lines = 0;
  /** Called as lines go by. */
  onLines?: (lines: number) => void;
  #head: Buffer | undefined = Buffer.alloc(0); // until the BOM question is settled
  #first: Buffer[] = [];
  #firstLength = 0;
  #firstDone = false;

  /** The first line, without its line end (what has arrived of it, if no line end yet). */
  get firstLine(): string {
    return Buffer.concat(this.#first).toString('utf8').replace(/\r$/, '');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.#head) {
      const head = Buffer.concat([this.#head, chunk]);
      if (head.length < BOM.length && BOM.subarray(0, head.length).equals(head)) {
        this.#head = head; // maybe a BOM, cut by the chunking: wait for more
        return done();
      }
      this.#head = undefined;
      chunk = head.subarray(0, BOM.length).equals(BOM) ? head.subarray(BOM.length) : head;
    }
    this.#watch(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.#head?.length) this.#watch(this.#head); // a file shorter than a BOM
    done(null, this.#head?.length ? this.#head : undefined);
  }

  #watch(chunk: Buffer): void {
    let at = chunk.indexOf(NEWLINE);
    if (!this.#firstDone) {
      const end = at < 0 ? chunk.length : at;
      const room = FIRST_LINE_MAX - this.#firstLength;
      this.#first.push(chunk.subarray(0, Math.min(end, room)));
      this.#firstLength += Math.min(end, room);
      this.#firstDone = at >= 0 || this.#firstLength >= FIRST_LINE_MAX;
    }
    let seen = 0;
    while (at >= 0) {
      seen++;
      at = chunk.indexOf(NEWLINE, at + 1);
    }
    if (seen === 0) return;
    this.lines += seen;
    this.onLines?.(this.lines);
  }
}

function watched(raw: Readable, gzip: boolean): WatchedInput {
  const watch = new WatchedInput();
  // pipeline() destroys every stage on error, so the consumer of the last stage sees it.
  if (gzip) pipeline(raw, zlib.createGunzip(), watch, () => {});
  else pipeline(raw, watch, () => {});
  return watch;
}

/** The first chunk of `stream`, put back to be read again: a pipe or FIFO cannot be opened a
 * second time to look at its first bytes. */
async function readHead(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stream.read() as Buffer | null;
      cleanup();
      if (chunk) stream.unshift(chunk);
      resolve(chunk ?? Buffer.alloc(0));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', reject);
    };
    stream.once('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', reject);
  });
}

export async function openInput(file: string): Promise<WatchedInput> {
  const raw = file === '-' ? process.stdin : fs.createReadStream(file);
  const head = await readHead(raw);
  return watched(raw, isGzip(head));
}
