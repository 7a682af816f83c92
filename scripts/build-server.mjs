// Compiles the server (src/, TypeScript) to build/ (JavaScript, the same layout) with esbuild and
// copies the SQL migrations beside it. bin/cdrex.js runs build/ when it is newer than every source
// file, and src/ through tsx otherwise, so an edit is never run stale. Compiled, a cdrex process
// starts faster and has no loader thread: about 45 MB less resident memory.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const src = path.join(root, 'src');
const out = path.join(root, 'build');

const sources = fs
  .readdirSync(src, { recursive: true })
  .map((name) => path.join(src, String(name)))
  .filter((file) => file.endsWith('.ts'));

fs.rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: sources,
  outdir: out,
  outbase: src,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
fs.cpSync(path.join(src, 'store', 'migrations'), path.join(out, 'store', 'migrations'), { recursive: true });
// Written last: its time says when the build was complete.
fs.writeFileSync(path.join(out, '.built'), `${new Date().toISOString()}\n`);
