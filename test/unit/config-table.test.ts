// docs/configuration.md is the user's list of settings: it must name every variable src/config.ts
// reads, with the default the code uses. The README's short table (what a first deployment sets)
// must agree with it. A bad LOG_LEVEL is refused with the levels that exist.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cli.js';

const source = fs.readFileSync(path.join(ROOT, 'src', 'config.ts'), 'utf8');
const reference = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** Every name config.ts reads: `env.NAME` and the helpers' `env, 'NAME'`. */
function namesRead(): Set<string> {
  const names = new Set<string>();
  for (const m of source.matchAll(/env\.([A-Z][A-Z0-9_]+)|env, '([A-Z][A-Z0-9_]+)'/g))
    names.add(m[1] ?? m[2]);
  return names;
}

/** The rows of a configuration table: name → default cell and meaning. */
function tableRows(markdown = reference): Map<string, { fallback: string; meaning: string }> {
  const section = `\n${markdown}`.split('\n## Configuration\n')[1]?.split('\n## ')[0] ?? markdown;
  const rows = new Map<string, { fallback: string; meaning: string }>();
  for (const line of section.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const name = /^`([A-Z][A-Z0-9_]+)`$/.exec(cells[1] ?? '')?.[1];
    if (name) rows.set(name, { fallback: cells[2], meaning: cells[3] });
  }
  return rows;
}

test('docs/configuration.md lists exactly the variables src/config.ts reads', () => {
  const read = namesRead();
  const rows = tableRows();
  assert.ok(read.size > 30, `found only ${read.size} names in config.ts`);
  assert.deepEqual(
    [...read].filter((n) => !rows.has(n)).sort(),
    [],
    'read by config.ts, missing in docs/configuration.md',
  );
  assert.deepEqual(
    [...rows.keys()].filter((n) => !read.has(n)).sort(),
    [],
    'in docs/configuration.md, not read by config.ts',
  );
  for (const [name, row] of rows) {
    assert.ok(row.fallback, `${name}: no default cell`);
    assert.ok(row.meaning.length >= 5, `${name}: no meaning`);
  }
});

test("the README's short table is a part of the full one, with the same defaults", () => {
  const short = tableRows(readme);
  const full = tableRows();
  assert.ok(short.size >= 5, `the README's table has ${short.size} rows`);
  for (const [name, row] of short) assert.equal(row.fallback, full.get(name)?.fallback, name);
});

test("each whole-number default in docs/configuration.md is the code's", () => {
  const rows = tableRows();
  const ints = [...source.matchAll(/int\(env, '([A-Z0-9_]+)', (\d+)/g)];
  assert.ok(ints.length > 20);
  for (const [, name, fallback] of ints) assert.equal(rows.get(name)?.fallback, `\`${fallback}\``, name);
  // And the defaults written as strings, which the loop above cannot see.
  const config = loadConfig({});
  assert.equal(rows.get('CDREX_FS_DIRECTION_VAR')?.fallback, `\`${config.fsDirectionVar}\``);
  assert.equal(rows.get('CDREX_FS_TRUNK_VAR')?.fallback, `\`${config.fsTrunkVar}\``);
  assert.equal(rows.get('LOG_LEVEL')?.fallback, `\`${config.logLevel}\``);
});

test('LOG_LEVEL must be a pino level; the error names them all', () => {
  assert.equal(loadConfig({ LOG_LEVEL: 'debug' }).logLevel, 'debug');
  assert.throws(
    () => loadConfig({ LOG_LEVEL: 'verbose' }),
    (err: Error) =>
      err instanceof ConfigError &&
      err.message.includes('"verbose"') &&
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].every((l) => err.message.includes(l)),
  );
});
