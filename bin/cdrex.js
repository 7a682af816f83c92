#!/usr/bin/env node
// Entry point of the `cdrex` command. It runs the compiled server in build/ (written by
// `npm install` or `npm run build`) when that is newer than every source file; otherwise it runs
// the TypeScript sources through tsx's loader, so an edited checkout never runs stale code.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
