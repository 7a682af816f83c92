// Loads: a Kazoo NDJSON upload, mod_json_cdr posts, and `cdrex import` against psql's \copy into
// an identical table with identical indexes.
import fs from 'node:fs';
import path from 'node:path';
import { logger, median, MONTH_START, ROOT, timed } from '../harness.js';
import { alternate, type Bench, GREGORIAN } from './context.js';

const log = logger('bench');

function writeNdjson(file: string, rows: number, accountId: string, run: number): Promise<unknown> {
  const out = fs.createWriteStream(file);
  for (let i = 0; i < rows; i++) {
    out.write(
      `${JSON.stringify({
        call_id: `upload-${run}-${i}`,
        timestamp: Math.floor(MONTH_START.getTime() / 1000) + GREGORIAN + 3600 + (i % 2_000_000),
        duration_seconds: String(30 + (i % 300)),
        billing_seconds: String(i % 4 ? 25 + (i % 280) : 0),
        caller_id_number: `+1415${String(5550000 + (i % 9999999)).padStart(7, '0')}`,
        callee_id_number: `+4420${String(70000000 + i)}`,
        hangup_cause: i % 4 ? 'NORMAL_CLEARING' : 'USER_BUSY',
        direction: i % 2 ? 'outbound' : 'inbound',
        custom_channel_vars: { account_id: accountId, owner_id: `user-${i % 50}` },
      })}\n`,
    );
  }
  return new Promise((r) => out.end(r));
}

/**
 * One PUT of a tenth of the rows (at least 1,000) as NDJSON, `runs` times (new calls each time);
 * the median rows/s. One PUT alone moved between 0.53 and 0.80 of the baseline on the same code.
 */
export async function measureUpload(bench: Bench, base: string): Promise<number> {
  const uploadRows = Math.max(1000, Math.floor(bench.rows / 10));
  const ndjsonFile = path.join(bench.harness.work, 'upload.ndjson');
  const rates: number[] = [];
  for (let run = 0; run < bench.runs; run++) {
    await writeNdjson(ndjsonFile, uploadRows, bench.main.account_id, run);
    const upload = await timed(async () => {
      const res = await fetch(`${base}/v2/accounts/${bench.main.account_id}/cdrs`, {
        method: 'PUT',
        headers: { 'X-Auth-Token': bench.main.api_key, 'Content-Type': 'application/x-ndjson' },
        body: fs.createReadStream(ndjsonFile) as unknown as BodyInit,
        duplex: 'half',
      } as RequestInit);
      const body = (await res.json()) as { data: { inserted: number } };
      if (body.data.inserted !== uploadRows) throw new Error(`upload stored ${body.data.inserted}`);
    });
    rates.push(uploadRows / (upload.ms / 1000));
    log(`upload run ${run + 1}: ${Math.round(rates.at(-1)!)} rows/s`);
  }
  return median(rates);
}

/** 1,000 mod_json_cdr posts, 4 at a time; posts/s. */
export async function measureFreeswitch(bench: Bench, base: string): Promise<number> {
  const sample = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'freeswitch-mod_json_cdr.json'), 'utf8'),
  );
  const posts = 1000;
  const basic = `Basic ${Buffer.from(`${bench.main.account_id}:${bench.main.api_key}`).toString('base64')}`;
  const time = await timed(async () => {
    let next = 0;
    const post = async () => {
      while (next < posts) {
        const i = next++;
        sample.variables.uuid = `fs-bench-${i}`;
        const res = await fetch(`${base}/ingest/freeswitch`, {
          method: 'POST',
          headers: { Authorization: basic, 'Content-Type': 'application/json' },
          body: JSON.stringify(sample),
        });
        if (res.status !== 200) throw new Error(`freeswitch post: ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, post));
  });
  return posts / (time.ms / 1000);
}

const COPY_COLUMNS =
  'time_start, time_connect, time_end, status, source_number, source_name, did_number, duration_s, attempt, disconnect_code, disconnect_reason, disconnect_initiator, trunk_name, destination, trunk_group, capacity_group, cost_tollfree, cost_pstn, cost_metered, cost_cnam, cost, call_id';

/** bench_copy: like cdrs, with the same indexes; `copyInto` loads the month's CSV into it. */
async function createCopyTable(bench: Bench) {
  const { pool } = bench;
  await pool.query('drop table if exists bench_copy');
  await pool.query('create table bench_copy (like cdrs including defaults including constraints)');
  const indexes = await pool.query<{ def: string }>(
    "select indexdef as def from pg_indexes where tablename = 'cdrs'",
  );
  for (const { def } of indexes.rows) {
    await pool.query(
      def.replace(/INDEX (\S+) ON (ONLY )?(\S+\.)?cdrs/, (_m, name) => `INDEX ${name}_copy ON bench_copy`),
    );
  }
  return (account: string) =>
    pool
      .query(
        `alter table bench_copy alter account_id set default '${account}', alter kind set default 'cdr_in'`,
      )
      .then(() =>
        bench.harness.sh('psql "$DATABASE_URL" -qAt -c "$COPY"', {
          COPY: `\\copy bench_copy (${COPY_COLUMNS}) FROM '${bench.csvFile}' CSV HEADER`,
        }),
      );
}

/**
 * Both tables hold the same month of rows before each run, each run loads the month again under
 * a new account, and its rows are deleted and vacuumed away afterwards (untimed), so both
 * sides insert into indexes of the same size and shape. Returns rows/s of both sides.
 */
export async function measureImports(bench: Bench) {
  const { pool, harness } = bench;
  const copyInto = await createCopyTable(bench);
  await copyInto(bench.main.account_id);
  const times = { cdrex: [] as number[], baseline: [] as number[] };
  for (let run = 0; run < bench.runs; run++) {
    const acct = (await harness.cli(['accounts', 'create', '--name', `import-${run}`])) as {
      account_id: string;
    };
    let line = '';
    const cdrexImport = async () => {
      const c = await timed(() =>
        harness.cli(['import', '--account', acct.account_id, '--type', 'cdr_in', bench.csvFile]),
      );
      if (c.value.inserted !== bench.rows) throw new Error(`import stored ${String(c.value.inserted)} rows`);
      times.cdrex.push(c.ms);
      line += ` cdrex ${c.ms.toFixed(0)} ms`;
      await pool.query('delete from cdrs where account_id = $1', [acct.account_id]);
      await pool.query('vacuum analyze cdrs');
    };
    const baselineImport = async () => {
      const b = await timed(() => copyInto(acct.account_id));
      times.baseline.push(b.ms);
      line += ` baseline ${b.ms.toFixed(0)} ms`;
      await pool.query('delete from bench_copy where account_id = $1', [acct.account_id]);
      await pool.query('vacuum analyze bench_copy');
    };
    await alternate(bench, run, cdrexImport, baselineImport);
    log(`import run ${run + 1}:${line}`);
  }
  await pool.query('drop table bench_copy');
  return {
    importRate: bench.rows / (median(times.cdrex) / 1000),
    copyRate: bench.rows / (median(times.baseline) / 1000),
  };
}
