// `npm test` runs the test files as JavaScript compiled here, not through tsx's loader. Under the
// loader every module a file imports (cdrex's and every package's) is resolved and loaded through
// a hooks thread; that was about 1.5 s of CPU per test file before its first test, 120 s of each
// store's run on 2 cores (docs/performance.md). The same esbuild transform tsx would apply, once.
//
// The layout mirrors the checkout: .test-build/test/… and .test-build/web/src/… compiled here,
// and .test-build/src a link to build/, the server `npm test` has just compiled (what `cdrex`
// runs in production, the same modules the tests' spawned commands load). A test file's
// import.meta.url is its source's, so the paths it derives (ROOT, fixtures, a worker's .ts) are
// the checkout's.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const OUT = '.test-build';

/** The TypeScript files under dir, at any depth (declarations left out). */
export function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => path.join(dir, name));
}

/** Each file's `import.meta.url` is its source's URL, not the compiled copy's. */
const sourceUrls: Plugin = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

/** Compiles test/ and web/src/ under root/.test-build; returns where a test file's compiled copy is. */
export async function compileTests(root: string): Promise<(file: string) => string> {
  const out = path.join(root, OUT);
  fs.rmSync(out, { recursive: true, force: true });
  await build({
    entryPoints: [...tsFiles(path.join(root, 'test')), ...tsFiles(path.join(root, 'web', 'src'))],
    outdir: out,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [sourceUrls],
  });
  fs.symlinkSync(path.join('..', 'build'), path.join(out, 'src'));
  return (file) => path.join(out, path.relative(root, path.resolve(root, file)).replace(/\.ts$/, '.js'));
}
