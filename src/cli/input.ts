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

async function readStdinHead(): Promise<Buffer> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = stdin.read() as Buffer | null;
      cleanup();
      if (chunk) stdin.unshift(chunk);
      resolve(chunk ?? Buffer.alloc(0));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.alloc(0));
    };
    const cleanup = () => {
      stdin.off('readable', onReadable);
      stdin.off('end', onEnd);
      stdin.off('error', reject);
    };
    stdin.once('readable', onReadable);
    stdin.once('end', onEnd);
    stdin.once('error', reject);
  });
}

export async function openInput(file: string): Promise<WatchedInput> {
  if (file === '-') {
    const head = await readStdinHead();
    return watched(process.stdin, isGzip(head));
  }
  const handle = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(2);
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  return watched(fs.createReadStream(file), isGzip(head));
}
