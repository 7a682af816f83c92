// Opens an import input: a file or `-` (stdin), gunzipped when it starts with the gzip magic.
import fs from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';

const isGzip = (head: Buffer) => head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;

function gunzipped(raw: Readable): Readable {
  // pipeline() destroys every stage on error, so the consumer of the last stage sees it.
  return pipeline(raw, zlib.createGunzip(), () => {});
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

export async function openInput(file: string): Promise<Readable> {
  if (file === '-') {
    const head = await readStdinHead();
    return isGzip(head) ? gunzipped(process.stdin) : process.stdin;
  }
  const handle = await fs.promises.open(file, 'r');
  const head = Buffer.alloc(2);
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  const raw = fs.createReadStream(file);
  return isGzip(head) ? gunzipped(raw) : raw;
}
