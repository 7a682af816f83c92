// The SQL-text lint: no request value may become part of SQL text. It parses every source file
// with the TypeScript compiler and reports
// - an interpolation `${…}` inside a template literal that reads as SQL, unless it is a
//   placeholder (`params.add(…)`), a module constant (UPPER_CASE), or listed in AUDITED below;
// - `.replace()`/`.replaceAll()` whose replacement is neither a placeholder nor a literal, in a
//   file that builds SQL (the way `withOffset` wrote a value into a query);
// - any use of `escapeLiteral` (the way `inlineParams` wrote values into COPY's query);
// - a `+` concatenation with a non-literal inside an argument of query() or copyTo().
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface Finding {
  file: string;
  line: number;
  rule: 'interpolation' | 'replace' | 'escapeLiteral' | 'concatenation';
  text: string;
}

const SQL_WORDS =
  /\b(?:select\s[\s\S]*\bfrom\b|insert\s+into\b|update\s+\w+\s+set\b|delete\s+from\b|copy\s*\(|copy\s+\w+|create\s+(?:temp\s+)?table\b|alter\s+(?:table|role)\b|drop\s+table\b|set\s+local\b|do\s+\$\$)/i;

const SQL_FRAGMENT = /::\w+|[=<>(']|\b(select|like|any|limit|offset|current_setting|cdrs)\b/i;

/**
 * Interpolations reviewed one by one: each names SQL structure built from constants or from
 * values validated against a fixed set, never a request's text. Keyed by file, then by the
 * expression as written. Adding an entry is a security review: say why it cannot carry a value.
 */
export const AUDITED: Record<string, Record<string, string>> = {
  'src/store/account-db.ts': {
    accountId: 'checked against ^[0-9a-f]{32}$ on the line before (beginAs, setAccountInSnapshot)',
    snapshot: 'a snapshot id from pg_export_snapshot(), checked against SNAPSHOT_ID on the line before',
    importing: 'a snapshot id from pg_export_snapshot(), checked against SNAPSHOT_ID first',
  },
  'src/store/roles.ts': {
    role: 'one of the two role-name constants',
    'ROLE_ATTRIBUTES[role]': 'constant attribute lists',
  },
  'src/store/queries/cdr-search.ts': {
    'params.account(search.accountId)': 'a placeholder, or an id SqlParams.account checked as 32 hex digits',
    root: 'one of JSON_FILTER_ROOTS, checked by resolve()',
    rootSql: 'JSON_ROOT_SQL, literals of the JSON_FILTER_ROOTS constants',
    "any.join(' or ')": 'fragments built of placeholders',
    "cond.op === 'has_key' ? 'not ' : ''": 'a constant',
    col: 'a column name from the FILTER_FIELDS constant table',
    'SCALAR_TYPE[field.kind]': 'a type name from a constant table',
    'ARRAY_TYPE[field.kind]': 'a type name from a constant table',
    "parts.join(' or ')": 'fragments built of placeholders',
    match: 'a fragment built of placeholders',
    select: 'the projection (constants) with its offset bound',
    "where.join(' and ')": 'fragments built of placeholders',
    'orderBy(search)': 'constant keywords',
    limit: 'a placeholder',
    "search.ascending ? '>=' : '<='": 'a constant operator',
    projection: 'the projection (constants) with its offset bound',
    where: 'fragments built of placeholders',
    "groupBy ? ` group by ${groupBy} order by ${groupBy}` : ''": 'a constant column alias',
  },
  'src/formats/csv-safety.ts': {
    expression: "a projection's column SQL from the constant field tables (streamCsv's LIST_FIELDS)",
    text: 'concat() of that same expression',
  },
  'src/store/queries/cdr-views.ts': {
    "fields.map(([name, sql]) => `'${name}', ${sql}`).join(', ')": 'the constant field tables',
    name: 'a field name from the constant field tables',
    sql: 'an expression from the constant field tables',
    'listObject(offset)': 'the constant list fields around the offset placeholder',
    'query.text': 'a query built of constants and placeholders',
    detail: 'the constant list and detail fields around the offset placeholder',
    where: 'a fragment built of placeholders (idMatch)',
    unit: 'a placeholder',
    offset: 'a placeholder (project() in src/store/sql.ts)',
    'start(offset)': 'a fragment built of placeholders',
    'listObject(`${params.add(Math.trunc(search.utcOffsetS ?? 0))}::int`)':
      'the constant list fields around the offset placeholder',
    doc: 'the constant list projection around the offset placeholder',
    'inner.text': 'a query built of constants and placeholders',
    keyset: 'a fragment built of placeholders',
    'orderBy(search)': 'constant keywords',
    'idMatch(db, key, params)': 'a fragment built of placeholders',
    "listJson('$3::int')": 'the constant list projection around the placeholder $3',
  },
  'src/store/sql.ts': {
    n: 'the placeholder number',
    'i + 1': 'the placeholder number',
    "args.join(', ') || 'variadic array[]::text[]'": 'placeholders, or a constant empty array',
    accountId: 'checked against ^[0-9a-f]{32}$ on the line before (SqlParams.account)',
  },
  'src/store/queries/didww-import.ts': {
    "defs.join(', ')": 'column definitions from the constant DIDWW column table',
    "targets.join(', ')": 'column names from the constant DIDWW column table',
    "values.join(', ')": 'column names and placeholders',
    onConflict: 'one of two constant ON CONFLICT clauses (insertDeduplicated)',
    'quoteIdent(c.header)': 'a header from the constant DIDWW column table',
    "times.map((c) => quoteIdent(c.header)).join(', ')": 'headers from the constant column table',
    'outsideSql(columns)': 'headers from the constant column table and placeholders',
  },
  'src/ingest/didww-csv.ts': {
    'pgErr.message': 'an error message',
    column: 'an error message',
  },
  'src/app.ts': {
    'pair.slice(0, eq)': 'a logged URL with its secrets redacted, not SQL',
    'ctx.max': 'a rate-limit message, not SQL',
    'ctx.after': 'a rate-limit message, not SQL',
  },
  'src/store/db.ts': {
    tcpTimeout: 'startup options: an integer from the configuration',
    timeout: 'an integer from the configuration',
  },
  'src/store/embedded.ts': {
    'dead.pid': 'an error message',
    lockFile: 'an error message',
    holder: 'an error message',
    pwFile: 'an initdb argument',
    'paths.socketDir': 'postgresql.conf, written by cdrex from its own paths',
  },
  'src/store/migrate.ts': {
    newest: 'an error message',
    'm.version': 'an error message',
    'm.name': 'an error message',
    '(err as Error).message': 'an error message',
  },
  'src/store/queries/cdrs.ts': {
    "insertSql('on conflict do nothing returning 1')":
      "the caller's INSERT, built of constants and placeholders, with a constant clause",
  },
  'src/store/queries/cdr-load.ts': {
    onConflict: 'one of two constant ON CONFLICT clauses (insertDeduplicated)',
  },
  'src/store/queries/export-copy.ts': {
    'params.account(exp.account_id)': 'a placeholder, or an id SqlParams.account checked as 32 hex digits',
    "columns.map(exportExpression).join(', ')": 'the constant DIDWW column table',
    select: 'a query built of constants and placeholders',
    'exportWhere(exp, params, slice)': 'fragments built of placeholders',
    'exportWhere(exp, params)': 'fragments built of placeholders',
    options: 'one of two constant COPY option lists',
  },
  'src/store/queries/lifecycle.ts': {
    digits: 'MASK_DIGITS or MASK_EXPORT_DIGITS, constant subqueries (the only callers)',
    value: 'a column, or a constant column expression, of the constant field tables',
    fn: 'one of the two masking functions (a literal union type)',
  },
  'src/store/queries/exports.ts': {
    where: 'a constant fragment',
    'ORDER_BY[q.sort]': 'a constant table, keyed by a schema-validated sort',
  },
};

/** Test and fixture snippets reuse the checks without the audited list. */
export function lintSource(file: string, source: string, audited: Record<string, string> = {}): Finding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const findings: Finding[] = [];
  const report = (node: ts.Node, rule: Finding['rule']) =>
    findings.push({
      file,
      line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
      rule,
      text: node.getText(sf).slice(0, 120),
    });
  const buildsSql = /\.query\s*[<(]|copyTo\(|from 'pg'|SqlParams/.test(source) || SQL_WORDS.test(source);

  const isPlaceholder = (e: ts.Expression): boolean =>
    ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === 'add';
  const isConstant = (e: ts.Expression): boolean => {
    // CONSTANT.join(', '): a constant list written out.
    if (
      ts.isCallExpression(e) &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.expression.name.text === 'join' &&
      e.arguments.every((a) => ts.isStringLiteral(a)) &&
      isConstant(e.expression.expression)
    )
      return true;
    const name = ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : '';
    return /^[A-Z][A-Z0-9_]*$/.test(name);
  };
  const safe = (e: ts.Expression) => isPlaceholder(e) || isConstant(e) || e.getText(sf) in audited;

  const visit = (node: ts.Node) => {
    if (ts.isTemplateExpression(node)) {
      const text = [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join(' ');
      // In a file that builds SQL, a fragment (`account_id = ${…}`, `date_trunc('${…}', …)`)
      // counts as SQL too.
      if (SQL_WORDS.test(text) || (buildsSql && SQL_FRAGMENT.test(text))) {
        for (const span of node.templateSpans)
          if (!safe(span.expression)) report(span.expression, 'interpolation');
      }
    }
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text;
      if (buildsSql && (method === 'replace' || method === 'replaceAll') && node.arguments.length === 2) {
        const replacement = node.arguments[1];
        const literal = ts.isStringLiteral(replacement) || ts.isNoSubstitutionTemplateLiteral(replacement);
        const placeholder =
          ts.isTemplateExpression(replacement) &&
          replacement.templateSpans.every((s) => isPlaceholder(s.expression));
        // A callback (escaping data for COPY's text format, say) returns what it computes from the
        // matched text; a call or a variable could be anything, a value included.
        const callback = ts.isArrowFunction(replacement) || ts.isFunctionExpression(replacement);
        if (!literal && !placeholder && !callback) report(node, 'replace');
      }
      if (method === 'escapeLiteral') report(node, 'escapeLiteral');
      if (method === 'query') for (const arg of node.arguments) checkConcatenation(arg);
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'copyTo') {
      for (const arg of node.arguments) checkConcatenation(arg);
    }
    ts.forEachChild(node, visit);
  };
  const checkConcatenation = (arg: ts.Node) => {
    const walk = (n: ts.Node) => {
      if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) {
        for (const side of [n.left, n.right]) {
          const plain = ts.isStringLiteral(side) || ts.isNoSubstitutionTemplateLiteral(side);
          if (!plain && !ts.isBinaryExpression(side) && !isConstant(side)) report(side, 'concatenation');
        }
      }
      ts.forEachChild(n, walk);
    };
    walk(arg);
  };
  visit(sf);
  return findings;
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? sourceFiles(path.join(dir, e.name))
        : e.name.endsWith('.ts')
          ? [path.join(dir, e.name)]
          : [],
    );
}

/** Every finding in the project's src/, with the audited interpolations allowed. */
export function lintProject(root: string): Finding[] {
  return sourceFiles(path.join(root, 'src')).flatMap((full) => {
    const file = path.relative(root, full).split(path.sep).join('/');
    return lintSource(file, fs.readFileSync(full, 'utf8'), AUDITED[file]);
  });
}

/**
 * Where SQL lives: a file outside src/store/ that calls `.query()` or holds a literal that reads
 * as SQL. Data access belongs to src/store/ (one module per table family), so a reader finds
 * every statement on a table in one place and the role, RLS and transaction rules in one layer.
 */
export function sqlOutsideStore(root: string): { file: string; line: number; text: string }[] {
  return sourceFiles(path.join(root, 'src')).flatMap((full) => {
    const file = path.relative(root, full).split(path.sep).join('/');
    if (file.startsWith('src/store/')) return [];
    const sf = ts.createSourceFile(file, fs.readFileSync(full, 'utf8'), ts.ScriptTarget.Latest, true);
    const found: { file: string; line: number; text: string }[] = [];
    const visit = (node: ts.Node) => {
      const query =
        ts.isCallExpression(node) &&
        ts.isPropertyAccessExpression(node.expression) &&
        node.expression.name.text === 'query';
      const literal =
        (ts.isStringLiteral(node) ||
          ts.isNoSubstitutionTemplateLiteral(node) ||
          ts.isTemplateExpression(node)) &&
        SQL_WORDS.test(node.getText(sf));
      if (query || literal)
        found.push({
          file,
          line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1,
          text: node.getText(sf).slice(0, 80),
        });
      else ts.forEachChild(node, visit);
    };
    visit(sf);
    return found;
  });
}
