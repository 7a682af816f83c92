// Gzip that uses every core: the input is cut into chunks, each compressed on libuv's thread pool
// as its own gzip member, and the members are written in order. A file of concatenated gzip
// members is one valid gzip file (RFC 1952 §2.2) that every gunzip reads whole. Memory is bounded
// by chunkSize × (maxInFlight + 1) whatever the size of the export.
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const OUTPUT_CHUNK = 256 * 1024;

export interface ParallelGzipOptions {
  level?: number;
  chunkSize?: number;
  maxInFlight?: number;
}

export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly chunkSize: number;
  private readonly maxInFlight: number;
  /**
   * Input buffers are reused once their member is written: copying the CSV into one of them is the
   * copy Buffer.concat made anyway, and a new megabyte per member was garbage that only a
   * collection returned (V8 lets tens of MB of it build up; an export's peak RSS, issue 16).
   */
  private readonly free: Buffer[] = [];
  private current: Buffer | undefined;
  private filled = 0;
  private readonly inFlight: { input: Buffer | undefined; member: Promise<Buffer> }[] = [];
  private members = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.level = options.level ?? 5;
    this.chunkSize = options.chunkSize ?? 1 << 20;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.fillInputs(chunk, 0, done);
  }

  override _flush(done: TransformCallback): void {
    // Even empty input gets one (empty) member: zero bytes is not a valid gzip file.
    if (this.filled > 0 || this.members === 0) this.startMember();
    this.drainTo(0).then(() => done(), done);
  }

  /** Copies `chunk` from `offset` into input buffers, starting a member each time one is full. */
  private fillInputs(chunk: Buffer, offset: number, done: TransformCallback): void {
    while (offset < chunk.length) {
      const input = (this.current ??= this.free.pop() ?? Buffer.allocUnsafe(this.chunkSize));
      const copied = chunk.copy(input, this.filled, offset);
      offset += copied;
      this.filled += copied;
      if (this.filled === input.length) {
        this.startMember();
        const rest = offset;
        this.drainTo(this.maxInFlight - 1).then(() => this.fillInputs(chunk, rest, done), done);
        return;
      }
    }
    done();
  }

  private startMember(): void {
    const input = this.current;
    const bytes = input ? input.subarray(0, this.filled) : Buffer.alloc(0);
    this.current = undefined;
    this.filled = 0;
    // One output buffer for most of a member: with zlib's default of 16 KiB, each member took a
    // dozen round trips between the thread pool and the event loop, and its pieces were copied
    // together again at the end (a 216 MB export spent 25% more time in gzip; .scratch measure
    // in the note of issue 16).
    const member = gzip(bytes, { level: this.level, chunkSize: OUTPUT_CHUNK });
    this.members++;
    member.catch(() => {}); // awaited in order by drainTo; avoid an unhandled rejection meanwhile
    this.inFlight.push({ input, member });
  }

  /** Writes finished members, oldest first, until at most `limit` remain in flight. Only then is
   * a member's input free again: the thread pool reads it until the member is done. */
  private async drainTo(limit: number): Promise<void> {
    while (this.inFlight.length > limit) {
      const { input, member } = this.inFlight.shift()!;
      this.push(await member);
      if (input) this.free.push(input);
    }
  }
}
