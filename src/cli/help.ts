// The text of `cdrex --help` and of each command's --help.
export const COMMANDS: Record<string, string> = {
  serve: `cdrex serve [--no-worker]
  Serves both API dialects, DIDWW v3 exports (/v3) and Kazoo's CDR API (/v1, /v2), the web portal
  (/), switch ingestion (POST /ingest/freeswitch) and /healthz, and runs background workers in the
  same process. In a terminal it prints one line: URL, portal, data directory and store. It exits
  1 with one error line when it cannot listen (PORT taken, HOST not on this machine).
  --no-worker   serve HTTP only; run workers elsewhere with \`cdrex worker\`.
  Env: PORT (8080), HOST (127.0.0.1), DATABASE_URL, CDREX_DATA_DIR (./data), CDREX_PUBLIC_URL…`,
  worker: `cdrex worker [--once]
  Runs background jobs (exports, callbacks, retention). Start any number, on any machine that
  reaches the same DATABASE_URL and export directory.
  --once   run every job that is due now, then exit.`,
  migrate: `cdrex migrate
  Applies the SQL migrations the database lacks, then exits. serve and worker do this on start.`,
  db: `cdrex db start|stop|status|destroy [--force]
  Manages the embedded PostgreSQL (used when DATABASE_URL is not set), kept in CDREX_DATA_DIR.
  start    start it and keep it running until \`cdrex db stop\` (commands leaving do not stop it)
  stop     stop it; refused while cdrex processes use it, unless --force (then serve and worker
           do not restart it until the next start)
  status   its state, the data directory (data_dir), the cluster's directory (cluster_dir), its
           port, log file and users
  destroy  remove the cluster, its directory and cluster.json (master key and export files stay);
           refused while it runs, unless --force (which stops it first)
  destroy --orphans [--force]   as root: remove the clusters under /var/lib/cdrex/clusters whose
           data directory is gone (deleted checkouts); running ones only with --force
  serve and worker restart it by themselves when its server process dies.
  cdrex db roles --print-sql
  Prints the SQL a DBA runs to create the cdrex_app and cdrex_worker roles, for a DATABASE_URL
  role that may not create roles itself (then set CDREX_APP_DATABASE_URL and
  CDREX_WORKER_DATABASE_URL).
  cdrex db distribute [--shards N]
  On a Citus cluster (DATABASE_URL names the coordinator; docs/scale-out.md): migrates, then
  distributes cdrs on account_id in N shards (default CDREX_CITUS_SHARDS) keeping its month
  partitions, makes the small global tables reference tables and keeps exports and jobs on the
  coordinator. Existing rows move to the workers. Idempotent; CDREX_CITUS=1 does it at every
  migration. Prints {"distributed":[…],"ms"}.
  cdrex db dump --out FILE
  Writes a consistent snapshot of the store (embedded or DATABASE_URL) to FILE, gzip, while cdrex
  keeps running: every table, read in one transaction, with the schema and PostgreSQL versions.
  Needs the owner role to bypass row-level security (a superuser or BYPASSRLS). FILE appears whole
  or not at all (mode 0600). Prints {"dumped":FILE,"schema_version","tables","rows","bytes"}.
  cdrex db restore FILE
  Loads a dump into an empty store (embedded or DATABASE_URL; it creates the embedded one), all or
  nothing, then applies this cdrex's newer migrations. Refuses a store that holds rows, a dump from
  a newer cdrex, and a damaged or cut file. API keys sign in as before; callbacks are signed only
  with the dumped store's master key (CDREX_MASTER_KEY or <data dir>/master.key): "master_key" in
  the summary says whether this one opens them ("same", "different", "absent").`,
  accounts: `cdrex accounts create --name NAME
  cdrex accounts rotate-key --account ID
  cdrex accounts list
  list prints one line per account: {"account_id","name","created","keys","key_created"}.
  create prints {"account_id":"…","api_key":"…"}; rotate-key prints the new key (the old one stops working).
  cdrex accounts callback-secret create|list --account ID
  cdrex accounts callback-secret enable|delete --account ID --id SECRET_ID
  Callback secrets sign export callbacks (X-DIDWW-Signature) in place of the API key, as DIDWW's
  2026-04-16 SDKs expect. create prints the secret once (it is stored encrypted, never shown
  again) and does not enable it; enable makes it the one that signs (any other is disabled);
  list shows ids, dates and which is enabled; deleting the enabled one goes back to the API key.
  create, enable and delete are audited (callback_secret.created|enabled|deleted, actor cli).
  cdrex accounts mask --account ID --digits N [--exports]
  Shows callers' numbers with their last N digits (1 to 10) as X in the Kazoo API, its CSV and the
  portal; DIDWW export files too with --exports (else they stay byte-exact). --digits 0 turns it
  off. Display only: a holder of the API key can still filter by the full number. Prints
  {"account_id","mask_digits","mask_exports"}; a change is audited (account.masking_changed).`,
  cdrs: `cdrex cdrs purge --before YYYY-MM [--account ID] [--dry-run]
  Removes CDRs before the month's first day (UTC): without --account, every account's, dropping
  whole month partitions (each blocks ingestion at most CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS); with
  --account, that account's rows (batched deletes). The last three months are always kept. Export
  files whose range starts before the month expire. Prints one line per partition
  {"partition","month","rows","dropped"} or account {"account_id","before","rows"}, then
  {"totals":{"partitions","rows","export_files","dry_run"}}; --dry-run only counts. A month whose
  lock is not granted is tried CDREX_CDR_RETENTION_LOCK_ATTEMPTS times, then the run stops (exit 1,
  nothing of that month removed). Audited: cdrs.purged per line, cdrs.retention_run per run.
  cdrex cdrs erase --account ID --number E164
  Erases a subscriber's number from every CDR of the account (with or without its +): number and
  name fields, URIs and the stored document, replaced by a stable pseudonym erased-<12 hex>.
  Export files that hold it expire (url null). The audit keeps a keyed hash, never the number.
  Prints {"account_id","pseudonym","number_hash","cdrs","exports","export_files"}.`,
  trunks: `cdrex trunks list --account ID
  The voice out trunks the account's outbound CDRs name, the most recently used first, one JSON
  line each: {"voice_out_trunk_id","names","calls","first_seen","last_seen"}. The id is what a
  cdr_out export's filters.voice_out_trunk.id takes (required under the default DIDWW API
  version); a null id counts the calls that carry none.`,
  admin: `cdrex admin token create [--name NAME]
  cdrex admin token list
  cdrex admin token revoke --id TOKEN_ID
  Operator tokens for the provisioning API (/admin/v1, Authorization: Bearer TOKEN; see
  docs/admin-api.md). create prints {"id","name","created_at","revoked_at","token"}: the token this
  once (it is stored hashed). list prints one line per token, never a token; revoke stops one at once.`,
  audit: `cdrex audit [--account ID] [--action ACTION] [--limit N]
  Prints the audit log, newest first, one JSON line per event (default 100):
  {"id","at","account_id","action","actor","address","detail"}. Actions: account.created,
  account.renamed, account.disabled, account.enabled, account.retention_changed,
  account.masking_changed, api_key.issued,
  api_key.revoked, api_key.rotated (rotate-key), callback_secret.created|enabled|deleted,
  export.downloaded, operator_token.created|revoked, and those of other commands (cdrs.erased,
  cdrs.purged, cdrs.retention_run).`,
  exports: `cdrex exports retry ID
  Runs a failed export again: it goes back to pending with a new job (a fresh retry period) and
  completes as any export does, callback included. Prints {"export_id":"…","status":"pending","job":"…"}.`,
  import: `cdrex import --account ID --type cdr_in|cdr_out [--voice-out-trunk-id UUID] FILE…
  Loads CSV files in exactly the DIDWW export format (plain or gzip, with or without a UTF-8
  byte-order mark; - for stdin). Each file is stored whole or not at all; rows already stored
  count as duplicates. Prints {"inserted":N,"duplicates":M}. A malformed row stops the run with
  its file and line number; a file of another layout (a cdr_out file given as cdr_in, a Kazoo CSV,
  an Asterisk Master.csv) is named, with the command that reads it. On a terminal, each file
  shows its progress on stderr (rows, rows/s, time so far); never in a pipe or a file.
  cdrex import --account ID --type kazoo FILE…
  Loads Kazoo CDR documents (.json with {"data":[…]}, .ndjson/.jsonl, or .csv with Kazoo field
  names), tagged imported; any invalid record stores nothing of that file.
  cdrex import --account ID --type asterisk [--timezone ZONE] [--direction inbound|outbound]
               [--inbound-contexts CONTEXT,…] FILE…
  Loads Asterisk cdr_csv files (Master.csv: no header, 16 to 21 columns), tagged imported. Times
  are read in ZONE (IANA, default UTC; give the PBX's zone unless cdr.conf sets usegmtime=yes).
  Without --direction a call is inbound when its dcontext is listed (default from-trunk,
  from-pstn, from-external; a trailing * matches a prefix), else outbound. Each file is stored
  whole or not at all; the first bad line stops the run with its file and line number.
  cdrex import --account ID --type freeswitch [--move-done DIR] [--move-failed DIR] PATH…
  Replays the CDRs FreeSWITCH's mod_json_cdr wrote to its err-log-dir when it could not post them
  (files, or directories searched recursively for *.json), stored as if posted. Prints one line
  per file, {"file":…,"status":"stored"|"duplicate"|"failed","id":…,"reason":…} (id: the CDR's
  Kazoo id, as POST /ingest/freeswitch answers it), then the totals; goes
  on past a bad file and exits 1 if any failed. Stored and duplicate files are moved to
  --move-done, failed ones to --move-failed. Running it again stores nothing twice.`,
  generate: `cdrex generate --account ID --type cdr_in|cdr_out --month YYYY-MM --rows N [--seed S] [--now TIME] [--out FILE|-]
  Stores N realistic synthetic CDRs for the month and prints {"inserted":N}: a day/night and
  weekday traffic curve, answer rates and causes by destination, a long tail of talk times, a few
  second attempts, call ids unique per month and direction, nothing after --now (ISO 8601, default
  the current time). The same seed and --now give the same rows. With --out, writes the CSV there
  instead of storing it (gzip when FILE ends in .gz; - for stdout).`,
};

export const USAGE = `cdrex — a call detail record store for voice carriers and hosted PBXs. It serves
CDRs in two API dialects, DIDWW v3 exports (/v3) and Kazoo's CDR API (/v1, /v2), with a web portal
for people (/) and switch ingestion (FreeSWITCH mod_json_cdr posts to /ingest/freeswitch; imports).

Usage: cdrex <command> [options]     (cdrex <command> --help, or cdrex help <command>, for one)
       cdrex --version                prints {"cdrex":"…","node":"…"}

${Object.values(COMMANDS).join('\n\n')}
`;

/** Prints the usage of `command`, or of cdrex; a command's exit code. */
export function printHelp(command?: string): number {
  process.stdout.write(`${command ? COMMANDS[command] : USAGE}\n`);
  return 0;
}
