#!/usr/bin/env node
// Entry point of the `cdrex` command. It runs the compiled server in build/ (written by
// `npm install` or `npm run build`) when that is newer than every source file; otherwise it runs
// the TypeScript sources through tsx's loader, so an edited checkout never runs stale code.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

// No allocation-site pretenuring, set before any of cdrex is loaded. With it, V8 may decide to
// allocate what pg builds for every result row in the old generation; those dead old objects then
// keep each next result's young strings alive through young collections, which promote them. A
// loop of pg queries returning 51 rows of 1 KB promoted about 4 MB per scavenge and paused 5-6 ms
// (Node 20, every run); with this flag, nothing and 0.7-1.0 ms (docs/performance.md).
v8.setFlagsFromString('--no-allocation-site-pretenuring');
// The old generation may double after a full collection. Left to itself, V8 gives a server whose
// old generation hardly grows (cdrex serve answering pages) the smallest factor it has, 1.1: the
// next limit sits about 24 MB above what lives. The Buffers of the pages served since that
// collection count against the same headroom, and a full collection frees them, so one started
// every ~200 ms, each pausing the server 2-8 ms: a 50-row page's p99 went from 3 to 7-9 ms, and
// /healthz's from 1.2 to 5-8. With the factor fixed at 2, 5-6 full collections in a 3-phase run
// instead of 52-53, page p99 3.0 ms, for 10 MB more RSS (docs/performance.md).
v8.setFlagsFromString('--heap-growing-percent=100');

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function buildIsCurrent() {
  let built;
  try {
    built = fs.statSync(path.join(root, 'build', '.built')).mtimeMs;
  } catch {
    return false;
  }
  const src = path.join(root, 'src');
  return fs
    .readdirSync(src, { recursive: true })
    .every((name) => fs.statSync(path.join(src, String(name))).mtimeMs <= built);
}

if (buildIsCurrent()) {
  process.setSourceMapsEnabled(true); // stack traces name the TypeScript lines
  await import('../build/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
