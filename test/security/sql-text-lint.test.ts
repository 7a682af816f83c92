// No request value is ever part of SQL text: the lint (test/helpers/sql-lint.ts) finds nothing in
// src/, and it does find each way values entered SQL text before (inlineParams, withOffset,
// date_trunc('${bucket}'), escapeLiteral in the export query), given here as they were written.
import assert from 'node:assert/strict';
import fs, { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { AUDITED, lintProject, lintSource, sqlOutsideStore } from '../helpers/sql-lint.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('no source file writes a value into SQL text', () => {
  const findings = lintProject(root);
  assert.deepEqual(
    findings.map((f) => `${f.file}:${f.line} ${f.rule}: ${f.text}`),
    [],
    'interpolate only placeholders (SqlParams.add), constants, or audited fragments',
  );
});

test('every audited interpolation is still in use (the list stays short and true)', () => {
  // An entry no source uses any more would let a future value in under an old review.
  for (const [file, entries] of Object.entries(AUDITED)) {
    const noAllowance = lintSource(file, readSource(file));
    const used = new Set(noAllowance.map((f) => f.text));
    for (const expr of Object.keys(entries))
      assert.ok(used.has(expr.slice(0, 120)), `${file}: audited "${expr}" is no longer used; remove it`);
  }
});

test('SQL lives under src/store/, everywhere', () => {
  assert.deepEqual(
    sqlOutsideStore(root).map((f) => `${f.file}:${f.line} ${f.text}`),
    [],
    'move the statement into a module of src/store/queries/',
  );
});

test('the SQL-outside-store check finds a query and a statement literal', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-sql-outside-'));
  fs.mkdirSync(path.join(dir, 'src/api'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'src/store'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'src/api/x.ts'),
    "const help = 'select a file';\nawait db.query(q);\nconst q = `select id from cdrs where x = $1`;\n",
  );
  fs.writeFileSync(path.join(dir, 'src/store/y.ts'), "await pool.query('select 1 from cdrs');\n");
  try {
    assert.deepEqual(
      sqlOutsideStore(dir).map((f) => `${f.file}:${f.line}`),
      ['src/api/x.ts:2', 'src/api/x.ts:3'],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function readSource(file: string): string {
  return readFileSync(path.join(root, file), 'utf8');
}

test("flags inlineParams: values substituted into COPY's query text", () => {
  const findings = lintSource(
    'snippet.ts',
    `export function inlineParams(query, client) {
      const literal = (v) => client.escapeLiteral(String(v));
      let text = query.text;
      for (let i = query.values.length; i >= 1; i--) {
        text = text.replaceAll(new RegExp(\`\\\\$\${i}(?!\\\\d)\`, 'g'), literal(query.values[i - 1]));
      }
      return text;
    }
    const sql = inlineParams(buildSearch(search, projection), client);
    client.query(copyTo(\`copy (\${sql}) to stdout (format csv, header)\`));`,
  );
  const rules = findings.map((f) => f.rule).sort();
  assert.ok(rules.includes('escapeLiteral'), JSON.stringify(findings));
  assert.ok(rules.includes('replace'), JSON.stringify(findings));
  assert.ok(rules.includes('interpolation'), JSON.stringify(findings));
});

test('flags withOffset: a number written in place of a token', () => {
  const findings = lintSource(
    'snippet.ts',
    `export function withOffset(sql, utcOffsetS = 0) {
      return sql.replaceAll(UTC_OFFSET_TOKEN, String(Math.trunc(utcOffsetS)));
    }
    const q = \`select \${withOffset(projection, search.utcOffsetS)} from cdrs where x = 1\`;`,
  );
  assert.deepEqual(findings.map((f) => f.rule).sort(), ['interpolation', 'replace']);
});

test("flags date_trunc('${bucket}')", () => {
  const findings = lintSource(
    'snippet.ts',
    "const start = `(date_trunc('${bucket}', (time_start at time zone 'UTC') + make_interval(secs => ${UTC_OFFSET_TOKEN})))`;\n" +
      'pool.query(`select ${start} from cdrs where account_id = $1`, [a]);',
  );
  assert.deepEqual(
    findings.map((f) => f.text),
    ['bucket', 'start'],
  );
});

test('flags the export query built with escapeLiteral, and concatenation into query()', () => {
  const findings = lintSource(
    'snippet.ts',
    'const where = [`account_id = ${escapeLiteral(exp.account_id)}`];\n' +
      "client.query('select * from cdrs where did_number = ' + did);",
  );
  assert.deepEqual(findings.map((f) => f.rule).sort(), ['concatenation', 'interpolation']);
});

test('allows placeholders and constants', () => {
  const findings = lintSource(
    'snippet.ts',
    "const q = `select ${LIST_JSON} from cdrs where account_id = ${params.add(id)}::text and ${COLUMNS.join(', ')}`;",
  );
  assert.deepEqual(findings, []);
});
