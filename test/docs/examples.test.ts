// The documentation runs: every `sh` example of README.md and docs/*.md is run, in order, as a new
// user would run it — `cdrex serve` in the background as `npm start` would be, each command with
// the values earlier answers gave (account, key, token, export id, …) in place of the examples'
// placeholders. A command fails the test on a non-zero exit, an HTTP status of 400 or more
// (curl runs with --fail-with-body), or an error line. A block that cannot run here (it installs,
// names other machines, …) is preceded by `<!-- doc-test: skip: why -->`, and a block that needs a
// file first by `<!-- doc-test: setup: command -->`, run before it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CDREX_BIN, ROOT, spawnCdrex } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import { freePort, MASTER_KEY, waitFor } from '../helpers/server.js';

/** An example block: where it is, and its marker if any. */
export interface DocBlock {
  file: string;
  line: number;
  code: string;
  skip?: string;
  setup?: string;
}

/** The ```sh blocks of a markdown file, with the doc-test marker just above each. */
export function shellBlocks(file: string, markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i])) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !lines[i].startsWith('```')) body.push(lines[i]);
    let above = start - 1;
    while (above >= 0 && lines[above].trim() === '') above--;
    const marker = /^<!-- doc-test: (skip|setup): (.+?) -->$/.exec(lines[above]?.trim() ?? '');
    blocks.push({
      file,
      line: start + 1,
      code: body.join('\n'),
      skip: marker?.[1] === 'skip' ? marker[2] : undefined,
      setup: marker?.[1] === 'setup' ? marker[2] : undefined,
    });
  }
  return blocks;
}

/** Splits shell text into commands: a newline ends one unless it is inside quotes or escaped;
 * comments (outside quotes) are dropped. */
export function shellCommands(code: string): string[] {
  const commands: string[] = [];
  let current = '';
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (quote) {
      current += c;
      if (c === '\\' && quote === '"') current += code[++i] ?? '';
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
      current += c;
    } else if (c === '\\' && code[i + 1] === '\n') {
      current += ' ';
      i++;
    } else if (c === '#' && (current === '' || /\s$/.test(current))) {
      while (i < code.length && code[i] !== '\n') i++;
      i--;
    } else if (c === '\n') {
      if (current.trim()) commands.push(current.trim());
      current = '';
    } else current += c;
  }
  if (current.trim()) commands.push(current.trim());
  return commands;
}

interface State {
  base: string;
  vars: Record<string, string>;
  /** What earlier answers said, newest last. */
  accounts: string[];
  keys: string[];
  tokens: string[];
  operatorTokens: string[];
  exportIds: string[];
  startKeys: string[];
  cdrIds: string[];
  callIds: string[];
}

/** Reads an answer for values later examples use. */
function remember(state: State, stdout: string): void {
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(stdout));
  } catch {
    for (const line of stdout.split('\n'))
      try {
        docs.push(JSON.parse(line));
      } catch {
        // not JSON: a CSV, a table, a gzip listing
      }
  }
  for (const doc of docs) {
    if (typeof doc !== 'object' || doc === null) continue;
    const d = doc as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (typeof d.account_id === 'string' && typeof d.api_key === 'string') {
      state.accounts.push(d.account_id);
      state.keys.push(d.api_key);
    }
    if (typeof d.auth_token === 'string' && d.auth_token) state.tokens.push(d.auth_token);
    if (typeof d.token === 'string' && d.token.startsWith('cdrex_op_')) state.operatorTokens.push(d.token);
    if (d.data?.type === 'exports' && typeof d.data.id === 'string') state.exportIds.push(d.data.id);
    if (typeof d.next_start_key === 'string') state.startKeys.push(d.next_start_key);
    if (
      Array.isArray(d.data) &&
      typeof d.data[0]?.id === 'string' &&
      typeof d.data[0]?.call_id === 'string'
    ) {
      state.cdrIds.push(d.data[0].id);
      state.callIds.push(d.data[0].call_id);
    }
  }
}

const newest = (list: string[], what: string) => {
  assert.ok(list.length > 0, `an example needs ${what}, and no earlier example gave one`);
  return list[list.length - 1];
};

/** The value an example variable assignment (`KEY=EKI1utlo…`) stands for. */
const VARIABLES: Record<string, (s: State) => string> = {
  ACCOUNT: (s) => newest(s.accounts, 'an account id'),
  KEY: (s) => newest(s.keys, 'an API key'),
  TOKEN: (s) => newest(s.tokens, 'an auth_token'),
  OP: (s) => newest(s.operatorTokens, 'an operator token'),
};

/** Placeholders in commands, and how to fill them from earlier answers. Each is tried in order. */
const PLACEHOLDERS: { pattern: RegExp; fill: (s: State) => Promise<string> | string }[] = [
  {
    pattern: /<the url attribute>/g,
    fill: async (s) => {
      const id = newest(s.exportIds, 'an export id');
      // The default rate limit applies (a new user's server): a 429 means ask again later, and
      // the command that uses the url runs with the same key, so it waits for the window our
      // polling used up to reset (as a user typing it would), read from the limiter's header.
      let resetSeconds = 0;
      const url = await waitFor(async () => {
        const res = await fetch(`${s.base}/v3/exports/${id}`, { headers: { 'Api-Key': VARIABLES.KEY(s) } });
        resetSeconds = Number(res.headers.get('retry-after') ?? res.headers.get('x-ratelimit-reset') ?? 1);
        if (!res.ok) return undefined;
        const body = (await res.json()) as { data: { attributes: { url: string | null } } };
        return body.data.attributes.url ?? undefined;
      }, `export ${id} to complete`);
      await delay(1000 * (Number.isFinite(resetSeconds) ? resetSeconds : 1) + 100);
      return url;
    },
  },
  { pattern: /\b[0-9a-f]{8}-…/g, fill: (s) => newest(s.exportIds, 'an export id') },
  { pattern: /<next_start_key>/g, fill: (s) => newest(s.startKeys, 'a next_start_key') },
  { pattern: /\b\d{6}-<call_id>[^\s"'/?]*/g, fill: (s) => newest(s.cdrIds, 'a CDR id') },
  { pattern: /<call_id>/g, fill: (s) => newest(s.callIds, 'a call id') },
];

async function fillPlaceholders(command: string, state: State): Promise<string> {
  let filled = command;
  for (const { pattern, fill } of PLACEHOLDERS)
    if (pattern.test(filled)) {
      pattern.lastIndex = 0;
      const value = await fill(state);
      filled = filled.replace(pattern, () => value);
    }
  const left = /…|<[a-z][a-z _]*>/.exec(filled);
  assert.equal(left, null, `an unfilled placeholder "${left?.[0]}" in: ${command}`);
  return filled;
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const docFiles = [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const blocks = docFiles.flatMap((file) => shellBlocks(file, fs.readFileSync(path.join(ROOT, file), 'utf8')));

test('the marker and command parsers read the documentation as a shell would', () => {
  assert.deepEqual(shellCommands('a \'x\ny\' # c\n# only a comment\nb \\\n  c "#" d'), [
    "a 'x\ny'",
    'b    c "#" d',
  ]);
  const parsed = shellBlocks(
    'x.md',
    'text\n<!-- doc-test: skip: installs -->\n\n```sh\nnpm i\n```\n```sh\nls\n```',
  );
  assert.deepEqual(
    parsed.map((b) => [b.skip, b.code]),
    [
      ['installs', 'npm i'],
      [undefined, 'ls'],
    ],
  );
  assert.ok(blocks.length >= 5, 'the README has its examples');
});

test('every shell example in README.md and docs/ runs against a real cdrex serve', async (t) => {
  const db = await createTestDatabase();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-docs-'));
  after(() => fs.rmSync(home, { recursive: true, force: true }));
  const port = await freePort();
  // The defaults a new user has: no lifted limits, only the store and the port.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: db.url,
    CDREX_DATA_DIR: path.join(home, 'data'),
    CDREX_MASTER_KEY: MASTER_KEY,
    PORT: String(port),
    CDREX_BIN,
  };
  delete env.LOG_LEVEL;
  const serve = spawnCdrex(['serve'], env);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    assert.equal(serve.proc.exitCode, null, 'cdrex serve exited');
    return (await fetch(`${base}/readyz`).catch(() => undefined))?.ok;
  }, 'cdrex serve to be ready');
  const state: State = {
    base,
    vars: {},
    accounts: [],
    keys: [],
    tokens: [],
    operatorTokens: [],
    exportIds: [],
    startKeys: [],
    cdrIds: [],
    callIds: [],
  };
  let ran = 0;
  for (const block of blocks) {
    const where = `${block.file}:${block.line}`;
    if (block.skip) {
      t.diagnostic(`${where}: skipped (${block.skip})`);
      continue;
    }
    const commands = [...(block.setup ? [block.setup] : []), ...shellCommands(block.code)];
    for (const command of commands) {
      const assignments = /^(?:[A-Z_]+=[^;\s]*;?\s*)+$/.test(command);
      if (assignments) {
        for (const [, name] of command.matchAll(/([A-Z_]+)=/g)) {
          assert.ok(VARIABLES[name], `${where}: the test does not know what ${name} stands for`);
          state.vars[name] = VARIABLES[name](state);
        }
        continue;
      }
      const filled = (await fillPlaceholders(command, state))
        .replaceAll('npx cdrex', 'node "$CDREX_BIN"')
        .replaceAll('http://127.0.0.1:8080', base)
        .replace(/(^|[;&|]\s*)curl /g, '$1curl -sS --fail-with-body ');
      const result = await run(filled, home, { ...env, ...state.vars });
      const said = `${where}: ${command}\n--- exit ${result.code}\n${result.stdout.slice(0, 2000)}\n${result.stderr.slice(0, 2000)}`;
      assert.equal(result.code, 0, said);
      assert.doesNotMatch(result.stdout, /^\{"error"/m, said);
      assert.doesNotMatch(result.stderr, /"level":(50|60)|^\{"error"/m, said);
      remember(state, result.stdout);
      ran++;
    }
  }
  t.diagnostic(`${ran} commands ran`);
  assert.ok(ran >= 10, `${ran} commands ran`);
});
