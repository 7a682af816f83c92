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
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private members = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.level = options.level ?? 5;
    this.chunkSize = options.chunkSize ?? 1 << 20;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.chunkSize) return done();
    this.startMember();
    this.drainTo(this.maxInFlight - 1).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    // Even empty input gets one (empty) member: zero bytes is not a valid gzip file.
    if (this.pendingBytes > 0 || this.members === 0) this.startMember();
    this.drainTo(0).then(() => done(), done);
  }

  private startMember(): void {
    const input = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    // One output buffer for most of a member: with zlib's default of 16 KiB, each member took a
    // dozen round trips between the thread pool and the event loop, and its pieces were copied
    // together again at the end (a 216 MB export spent 25% more time in gzip; .scratch measure
    // in the note of issue 16).
    const member = gzip(input, { level: this.level, chunkSize: OUTPUT_CHUNK });
    this.members++;
    member.catch(() => {}); // awaited in order by drainTo; avoid an unhandled rejection meanwhile
    this.inFlight.push(member);
  }

  /** Writes finished members, oldest first, until at most `limit` remain in flight. */
  private async drainTo(limit: number): Promise<void> {
    while (this.inFlight.length > limit) {
      const member = await this.inFlight.shift()!;
      this.push(member);
    }
  }
}
