#!/usr/bin/env bash
# Adds a worker to a running Citus store and rebalances it while cdrex ingests (docs/scale-out.md,
# "Adding a node"). Not run by CI (it takes minutes); run as root on a machine with the vendored
# Citus build installed:
#   scripts/citus-add-node.sh [DIR] [PORT] [BASE_ROWS] [BATCHES]
# It starts a coordinator and two workers (the vendor's cluster.sh, in DIR, on PORT..PORT+2),
# distributes a store there, loads BASE_ROWS CDRs, then keeps importing BATCHES files of 10,000
# CDRs in a loop while a third worker (PORT+3) is made, added and the shards rebalanced onto it.
# It checks that no import failed and that cdrs holds exactly the rows the imports reported, then
# stops the nodes and removes DIR.
set -euo pipefail
dir=${1:-/var/tmp/cdrex-add-node}
port=${2:-5490}
base_rows=${3:-200000}
batches=${4:-30}
vendor=${CDREX_CITUS_VENDOR:-/work/shared/vendor/citus}
bin=/usr/lib/postgresql/15/bin
root=$(cd "$(dirname "$0")/.." && pwd)
cdrex() { node "$root/bin/cdrex.js" "$@"; }
stamp() { date -u +%H:%M:%S.%N | cut -c1-12; }
say() { echo "[$(stamp)] $*"; }
psql_at() { PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres -p "$1" -c "$2"; }

w3="$dir/node3"
w3_port=$((port + 3))
cleanup() {
  [ -f "$w3/postmaster.pid" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$w3" -m fast -w stop >/dev/null || true
  "$vendor/cluster.sh" stop "$dir" || true
  rm -rf "$dir" "$work"
}
work=$(mktemp -d)
trap cleanup EXIT

say "starting coordinator and two workers in $dir"
export DATABASE_URL
DATABASE_URL=$("$vendor/cluster.sh" start "$dir" "$port" | tail -n 1)
export CDREX_CITUS=1 CDREX_DATA_DIR="$work/data" CDREX_MASTER_KEY=add-node LOG_LEVEL=warn
say "distribute: $(cdrex db distribute | tail -n 1)"
account=$(cdrex accounts create --name add-node | tail -n 1 | node -pe 'JSON.parse(require("fs").readFileSync(0)).account_id')
month=$(date -u +%Y-%m)

say "generating $base_rows base rows and $batches files of 10000"
cdrex generate --type cdr_in --month "$month" --rows "$base_rows" --seed 1 --out "$work/base.csv" >/dev/null 2>&1
for i in $(seq 1 "$batches"); do
  cdrex generate --type cdr_out --month "$month" --rows 10000 --seed "$((100 + i))" --out "$work/batch$i.csv" >/dev/null 2>&1
done
base_import=$(cdrex import --account "$account" --type cdr_in "$work/base.csv" | tail -n 1)
say "base import: $base_import"
# generate writes nothing after now: the month's rows so far, fewer than asked early in a month.
base_rows=$(echo "$base_import" | sed -n 's/.*"inserted":\([0-9]*\).*/\1/p')

# The ingestion loop: one import after the other, each result (or failure) on its own line.
(
  for i in $(seq 1 "$batches"); do
    if out=$(cdrex import --account "$account" --type cdr_out "$work/batch$i.csv" 2>&1 | tail -n 1); then
      echo "[$(stamp)] batch $i $out"
    else
      echo "[$(stamp)] batch $i FAILED $out"
    fi
  done
) > "$work/ingest.log" &
ingest=$!

sleep 2
say "initdb and start of a third worker on $w3_port"
mkdir -p "$w3" && chown postgres:postgres "$w3"
runuser -u postgres -- "$bin/initdb" -D "$w3" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$w3/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $w3_port
shared_preload_libraries = 'citus'
unix_socket_directories = '$dir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = logical
CONF
runuser -u postgres -- "$bin/pg_ctl" -D "$w3" -l "$w3/log" -w -t 60 start >/dev/null
psql_at "$w3_port" "create extension if not exists citus" >/dev/null
say "citus_add_node: $(psql_at "$port" "select citus_add_node('127.0.0.1', $w3_port)")"
say "shards per node before: $(psql_at "$port" "select string_agg(nodeport || ':' || n, ' ' order by nodeport) from (select nodeport, count(*) n from citus_shards where table_name::text like 'cdrs%' group by 1) s")"
say "citus_rebalance_start: $(psql_at "$port" "select citus_rebalance_start()")"
while [ "$(psql_at "$port" "select state from citus_rebalance_status() order by job_id desc limit 1")" != finished ]; do
  state=$(psql_at "$port" "select state from citus_rebalance_status() order by job_id desc limit 1")
  case "$state" in failed | cancelled) say "rebalance $state"; exit 1 ;; esac
  sleep 1
done
say "rebalance finished"
say "shards per node after: $(psql_at "$port" "select string_agg(nodeport || ':' || n, ' ' order by nodeport) from (select nodeport, count(*) n from citus_shards where table_name::text like 'cdrs%' group by 1) s")"

wait "$ingest"
say "ingestion finished"
cat "$work/ingest.log"
failed=$(grep -c FAILED "$work/ingest.log" || true)
reported=$(cat "$work/ingest.log" | sed -n 's/.*"inserted":\([0-9]*\).*/\1/p' | paste -sd+ | bc)
base=$(cdrex import --account "$account" --type cdr_in "$work/base.csv" | tail -n 1)
expected=$((base_rows + reported))
stored=$(psql_at "$port" "select count(*) from cdrs")
say "failed imports: $failed; base re-import (all duplicates): $base"
say "rows: stored $stored, expected $base_rows + $reported = $expected"
[ "$failed" = 0 ] && [ "$stored" = "$expected" ] || { say "MISMATCH"; exit 1; }
say "ok"
