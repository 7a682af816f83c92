// A node:test reporter that `npm test` adds beside `spec`: each file's wall time, slowest first, at
// the end of the run, so the suite's time can be attacked where it goes (issue #16). Plain
// JavaScript: node loads reporters without the tsx loader.
import path from 'node:path';

/** The test file a compiled copy was made from (test/helpers/compile.ts). @param {string} file */
const sourceOf = (file) => file.replace(/^\.test-build\/(.*)\.js$/, '$1.ts');

/** @param {AsyncIterable<{type: string, data?: {name?: string, file?: string, nesting?: number, details?: {duration_ms?: number}}}>} source */
export default async function* fileTimes(source) {
  /** @type {[string, number][]} */
  const times = [];
  /** @type {Map<string, number>} */
  const inTests = new Map();
  for await (const event of source) {
    if (event.type !== 'test:complete') continue;
    const { name, file, nesting, details } = event.data ?? {};
    if (!file) continue;
    const ms = details?.duration_ms ?? 0;
    // The tests name the source their compiled copy maps to; the file, the copy.
    const source = sourceOf(path.relative(process.cwd(), file));
    // Each file runs as one test named by its path; its duration covers the file's whole process.
    // Its own top-level tests are at the same nesting; the rest of its time is setup and teardown
    // (a pending timer that keeps the process alive shows there).
    if (name === file) times.push([source, ms]);
    else if (nesting === 0) inTests.set(source, (inTests.get(source) ?? 0) + ms);
  }
  if (times.length === 0) return;
  times.sort((a, b) => b[1] - a[1]);
  const total = times.reduce((sum, [, ms]) => sum + ms, 0);
  const s = (/** @type {number} */ ms) => (ms / 1000).toFixed(1).padStart(6);
  yield `# file times (sum ${(total / 1000).toFixed(1)} s; then the part outside the file's tests)\n`;
  // Summed at the end: a file's own events may come before or after its tests'.
  for (const [file, ms] of times) yield `#  ${s(ms)} s ${s(ms - (inTests.get(file) ?? 0))} s  ${file}\n`;
}
