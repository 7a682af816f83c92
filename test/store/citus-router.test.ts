// On Citus every per-account statement over `cdrs` is a router query: it runs on the one shard
// that holds the account (docs/scale-out.md). The statements are the ones cdrex really sends:
// every query a pg client issues in this process is watched, and each one over `cdrs` is
// EXPLAINed on the same connection, in the same transaction, just before it runs (so the account
// setting, a COPY's parameter settings and an upload's staging table are all there). Skipped,
// with the reason, when the run's server is not a Citus coordinator.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isCitus } from '../../src/store/citus.js';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { createTestDatabase } from '../helpers/db.js';
import { NOW, startServer, THIS_MONTH, THIS_YEAR } from '../helpers/server.js';

const db = await createTestDatabase();
const citus = await isCitus(db.pool);
const skip = citus
  ? false
  : 'the store is not Citus: run with DATABASE_URL on a Citus coordinator (.ci/run does)';
if (skip) process.stdout.write(`# skipped: ${skip}\n`);

interface Seen {
  label: string;
  sql: string;
  plan: Promise<string>;
}
const seen: Seen[] = [];
let label = 'setup';

/** COPY … FROM STDIN has no plan to EXPLAIN: Citus sends each row to the shard of its account_id,
 * and a load carries one account (records.ts writes its id into every row), so one shard. */
const COPY_IN = 'copy-in';

/** The query a statement runs over cdrs, as EXPLAIN takes it; undefined for other statements. */
function explainable(sql: string): string | undefined {
  if (!/\bcdrs\b/.test(sql) || /pg_inherits|regclass|^\s*explain/i.test(sql)) return undefined;
  const copyOut = /^\s*copy\s*\(([\s\S]*)\)\s*to\s+stdout/i.exec(sql);
  if (copyOut) return copyOut[1];
  if (/^\s*copy\s+cdrs\b/i.test(sql)) return COPY_IN;
  return /^\s*(select|insert|update|delete|with)\b/i.test(sql) ? sql : undefined;
}

type Query = (this: pg.Client, ...args: unknown[]) => unknown;
const original = pg.Client.prototype.query as unknown as Query;
if (citus) {
  (pg.Client.prototype as unknown as { query: Query }).query = function (
    this: pg.Client,
    ...args: unknown[]
  ) {
    const [first, second] = args;
    const sql =
      typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? undefined);
    const values =
      typeof first === 'string'
        ? Array.isArray(second)
          ? second
          : undefined
        : (first as { values?: unknown[] } | undefined)?.values;
    const inner = sql === undefined ? undefined : explainable(sql);
    if (inner === COPY_IN && sql !== undefined) {
      seen.push({ label, sql, plan: Promise.resolve(COPY_IN) });
    } else if (inner !== undefined && sql !== undefined) {
      // Queued on this client ahead of the statement itself. A COPY's parameters are settings,
      // so its inner query takes no values.
      const explainValues = /^\s*copy/i.test(sql) ? undefined : values;
      const plan = (original.call(this, `explain ${inner}`, explainValues) as Promise<pg.QueryResult>).then(
        (r) => r.rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n'),
        (err: Error) => `EXPLAIN failed: ${err.message}`,
      );
      seen.push({ label, sql, plan });
    }
    return original.apply(this, args);
  };
}

const server = await startServer(db);
const a = await server.newAccount('a');
const b = await server.newAccount('b');
const headers = { 'X-Auth-Token': a.api_key };
const kazoo = `${server.base}/v2/accounts/${a.account_id}/cdrs`;
const nowG = Math.floor(NOW.getTime() / 1000) + GREGORIAN_OFFSET;

async function ok(res: Response): Promise<Response> {
  assert.ok(res.ok, `${res.url}: ${res.status} ${await res.clone().text()}`);
  return res;
}

async function exercise(): Promise<void> {
  label = 'import (DIDWW CSV)';
  await server.seed(a.account_id, 'cdr_in', 20);
  await server.seed(b.account_id, 'cdr_in', 20);
  label = 'upload (Kazoo PUT)';
  const docs = [0, 1].map((i) => ({
    call_id: `up-${i}`,
    timestamp: nowG - 600,
    duration_seconds: 5,
    interaction_id: 'inter-1',
  }));
  await ok(
    await fetch(kazoo, {
      method: 'PUT',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: docs }),
    }),
  );
  label = 'dedupe (the same upload again)';
  await ok(
    await fetch(kazoo, {
      method: 'PUT',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: docs }),
    }),
  );
  label = 'Kazoo page';
  const page = (await (await ok(await fetch(`${kazoo}?page_size=5`, { headers }))).json()) as {
    data: { id: string }[];
  };
  label = 'Kazoo CSV';
  await (await ok(await fetch(`${kazoo}?accept=csv`, { headers }))).text();
  label = 'summary';
  await ok(await fetch(`${kazoo}/summary`, { headers }));
  label = 'detail';
  await ok(await fetch(`${kazoo}/${page.data[0].id}`, { headers }));
  label = 'legs';
  await ok(await fetch(`${kazoo}/legs/inter-1`, { headers }));
  label = 'DIDWW export COPY';
  const id = await server.createExport(a.api_key, {
    export_type: 'cdr_in',
    filters: { year: THIS_YEAR, month: THIS_MONTH },
  });
  await server.exportFileUrl(a.api_key, id);
  label = 'done';
}

test('each per-account statement over cdrs plans to exactly one task', { skip }, async () => {
  await exercise();
  (pg.Client.prototype as unknown as { query: Query }).query = original;
  const labels = new Set(seen.map((s) => s.label));
  for (const expected of [
    'import (DIDWW CSV)',
    'upload (Kazoo PUT)',
    'dedupe (the same upload again)',
    'Kazoo page',
    'Kazoo CSV',
    'summary',
    'detail',
    'legs',
    'DIDWW export COPY',
  ])
    assert.ok(labels.has(expected), `no statement over cdrs was seen for ${expected}`);
  const wrong: string[] = [];
  const staged = new Set<string>();
  for (const s of seen) {
    const plan = await s.plan;
    if (plan === COPY_IN) continue;
    // Loads move rows from a temporary staging table, which exists on the coordinator only:
    // Citus reads it there and copies the rows on to their shards by account_id: one load is one
    // account's (a bound value, or records.ts's suffix on every staged row), so one shard.
    if (
      /INSERT\/SELECT method: pull to coordinator/.test(plan) &&
      /Seq Scan on \w+_stage\b|Function Scan on jsonb_to_recordset/.test(plan)
    ) {
      staged.add(s.label);
      continue;
    }
    const tasks = [...plan.matchAll(/Task Count: (\d+)/g)].map((m) => Number(m[1]));
    if (tasks.length === 0 || tasks.some((n) => n !== 1))
      wrong.push(`${s.label}: ${s.sql.slice(0, 160).replace(/\s+/g, ' ')}\n${plan}`);
  }
  assert.deepEqual(wrong, [], `statements that do not plan to one task:\n${wrong.join('\n\n')}`);
  process.stdout.write(
    `# staged loads (one account's rows copied on from the coordinator): ${[...staged].join(', ')}\n`,
  );
});
