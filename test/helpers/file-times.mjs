// A node:test reporter that `npm test` adds beside `spec`: each file's wall time, slowest first, at
// the end of the run, so the suite's time can be attacked where it goes (issue #16). Plain
// JavaScript: node loads reporters without the tsx loader.
import path from 'node:path';

/** The test file a compiled copy was made from (test/helpers/compile.ts). @param {string} file */
const sourceOf = (file) => file.replace(/^\.test-build\/(.*)\.js$/, '$1.ts');

/** @param {AsyncIterable<{type: string, data?: {name?: string, file?: string, details?: {duration_ms?: number}}}>} source */
export default async function* fileTimes(source) {
  /** @type {[string, number][]} */
  const times = [];
  for await (const event of source) {
    const { name, file, details } = event.data ?? {};
    // Each file runs as one test named by its path; its duration covers the file's whole process.
    if (event.type === 'test:complete' && file && name === file)
      times.push([sourceOf(path.relative(process.cwd(), file)), details?.duration_ms ?? 0]);
  }
  if (times.length === 0) return;
  times.sort((a, b) => b[1] - a[1]);
  const total = times.reduce((sum, [, ms]) => sum + ms, 0);
  yield `# file times (sum ${(total / 1000).toFixed(1)} s)\n`;
  for (const [file, ms] of times) yield `#  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`;
}
