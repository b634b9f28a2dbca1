#!/usr/bin/env bash
# Scaling benchmark: one replica on PostgreSQL and S3 against one on
# SQLite and files, for cached reads (wrk on a package document, search
# and list pages; the answer cache does the work, so the two should be
# within 10 %), then publish throughput with 1 and 2 replicas on
# PostgreSQL and S3 (and 1 on SQLite, for scale). Prints Markdown tables.
#
#   bash bench/replicas.sh              # about 2 minutes
#   DURATION=10 ROUNDS=5 bash bench/replicas.sh
#
# It starts its own PostgreSQL and S3 server (.ci/backends.sh) and stops
# everything on exit. Needs wrk, curl and python3 (installed if missing
# and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}
PACKAGES=${PACKAGES:-200}

missing=()
for tool in wrk:wrk curl:curl python3:python3; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

. .ci/backends.sh
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
  backends_stop
}
trap cleanup EXIT

go build -o "$tmp/nessemble-registry" .
go build -o "$tmp/seed" ./bench/seed
go build -o "$tmp/publish" ./bench/publish
go build -o "$tmp/mkbucket" ./bench/mkbucket

pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
endpoint=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["endpoint"][0])' "$NESSEMBLE_TEST_S3")
newdb() { # prints the URL of a new database named $1
  "$pgbin/psql" -q "$NESSEMBLE_TEST_POSTGRES" -c "CREATE DATABASE $1" >/dev/null
  echo "${NESSEMBLE_TEST_POSTGRES/\/postgres\?//$1?}"
}
newbucket() { # prints the s3:// URL of a new bucket named $1
  "$tmp/mkbucket" -endpoint "$endpoint" -bucket "$1"
  echo "s3://$1?endpoint=$endpoint&region=us-east-1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve NAME ARGS...: starts a replica, sets $url
serve() {
  local name=$1; shift
  local port; port=$(free_port)
  "$tmp/nessemble-registry" serve --addr "127.0.0.1:$port" --rate-limit 100000000 --data "$tmp/$name" "$@" 2>>"$tmp/$name.log" &
  pids+=($!)
  url=http://127.0.0.1:$port
  for _ in $(seq 200); do curl -sf "$url/status" >/dev/null && return; sleep 0.05; done
  echo "bench: $name did not start" >&2; cat "$tmp/$name.log" >&2; exit 1
}

# --- cached reads --------------------------------------------------------
serve sqlite; sqlite_url=$url
pg_db=$(newdb bench_reads); pg_s3=$(newbucket bench-reads)
serve pg --database "$pg_db" --blobs "$pg_s3"; pg_url=$url
"$tmp/seed" -registry "$sqlite_url" -packages "$PACKAGES" -versions 3 >/dev/null
"$tmp/seed" -registry "$pg_url" -packages "$PACKAGES" -versions 3 >/dev/null

rps() { # rps URL: requests/s of wrk -t2 -c32, keep-alive
  curl -sf "$1" >/dev/null # fills the answer cache
  wrk -t2 -c32 -d"${DURATION}s" "$1" | awk '/Requests\/sec/ {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| cached read | SQLite + files req/s | PostgreSQL + S3 req/s | ratio |"
echo "|---|---|---|---|"
for path in /package/bench-0042 /package/bench-0042/data "/search/bench-01" "/?page=3"; do
  s=() p=()
  for _ in $(seq "$ROUNDS"); do
    s+=("$(rps "$sqlite_url$path")")
    p+=("$(rps "$pg_url$path")")
  done
  sm=$(printf '%s\n' "${s[@]}" | median); pm=$(printf '%s\n' "${p[@]}" | median)
  echo "| $path | $sm | $pm | $(python3 -c "print(f'{$pm/$sm:.2f}')") |"
done
for pid in "${pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
pids=()

# --- publish throughput --------------------------------------------------
echo
echo "| publish | publishers | result |"
echo "|---|---|---|"
serve sqlite-pub
echo "| SQLite + files, 1 replica | 8 | $("$tmp/publish" -registries "$url" -publishers 8 -each 25 -prefix s1) |"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

pub_db=$(newdb bench_publish); pub_s3=$(newbucket bench-publish)
serve pg1 --database "$pub_db" --blobs "$pub_s3"; one=$url
echo "| PostgreSQL + S3, 1 replica | 8 | $("$tmp/publish" -registries "$one" -publishers 8 -each 25 -prefix p1) |"
serve pg2 --database "$pub_db" --blobs "$pub_s3"; two=$url
echo "| PostgreSQL + S3, 2 replicas | 8 (4 each) | $("$tmp/publish" -registries "$one,$two" -publishers 8 -each 25 -prefix p2) |"
"$tmp/nessemble-registry" check --data "$tmp/pg1" --database "$pub_db" --blobs "$pub_s3" >/dev/null && echo && echo "check after the publish runs: ok"
