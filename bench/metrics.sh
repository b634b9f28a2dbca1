#!/usr/bin/env bash
# What the Prometheus metrics cost the cached reads: two registries on the
# same data folder, one with --metrics-addr and one without, loaded by wrk
# in turn (off, on, off, on, ...) so that both see the same state of this
# shared machine. Prints the medians of ROUNDS runs of requests/s and of
# CPU time per request, and the ratio on/off, then the request counts the
# metrics registry itself reports, to show that it counted them.
#
#   bash bench/metrics.sh               # about 2.5 minutes
#   DURATION=8 ROUNDS=5 bash bench/metrics.sh
#
# Needs wrk, curl and python3 (installed if missing and run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-4}
ROUNDS=${ROUNDS:-3}

missing=()
for tool in wrk:wrk curl:curl python3:python3; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bench: needs the Debian packages ${missing[*]}" >&2; exit 1
  fi
fi

tmp=$(mktemp -d)
off_pid= on_pid=
cleanup() {
  for pid in $off_pid $on_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  sleep 0.2; rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
off_port=$(free_port); on_port=$(free_port); metrics_port=$(free_port)
off=http://127.0.0.1:$off_port; on=http://127.0.0.1:$on_port

go build -o "$tmp/nessemble-registry" .
go build -o "$tmp/seed" ./bench/seed

start() { # PORT EXTRA... -> started_pid (a child of this shell, so cleanup can wait)
  local port=$1; shift
  "$tmp/nessemble-registry" serve --data "$tmp/data" --addr "127.0.0.1:$port" \
    --rate-limit 100000000 "$@" >>"$tmp/registry.log" 2>&1 &
  started_pid=$!
}
wait_up() { for _ in $(seq 100); do curl -sf "$1/status" >/dev/null && return; sleep 0.05; done; echo "bench: registry did not start" >&2; exit 1; }
start "$off_port"; off_pid=$started_pid; wait_up "$off"
"$tmp/seed" -registry "$off" -packages 200 -versions 3 >/dev/null
start "$on_port" --metrics-addr "127.0.0.1:$metrics_port"; on_pid=$started_pid; wait_up "$on"

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
load() { # PID URL THREADS CONNS MODE -> "rps cpu_us_per_req"
  local pid=$1 url=$2 t=$3 c=$4 hdr=() before after out
  [ "$5" = close ] && hdr=(-H "Connection: close")
  before=$(cpu_ticks "$pid")
  out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" "${hdr[@]}" "$url")
  after=$(cpu_ticks "$pid")
  awk -v ticks=$((after - before)) -v clk="$clk" '
    / requests in / { n = $1 }
    /Requests\/sec:/ { rps = $2 }
    END { printf "%.0f %.1f\n", rps, (n > 0 ? ticks * 1e6 / clk / n : 0) }' <<<"$out"
}
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

echo "| answer | wrk | connection | req/s off | req/s on | ratio | CPU µs/req off | CPU µs/req on | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for target in "package document:/package/bench-0001" "search:/search/bench-00"; do
  IFS=: read -r name path <<<"$target"
  for tc in "2 32 keep-alive" "2 32 close" "1 1 keep-alive"; do
    read -r t c mode <<<"$tc"
    r_off=() r_on=() c_off=() c_on=()
    for _ in $(seq "$ROUNDS"); do
      read -r r u <<<"$(load "$off_pid" "$off$path" "$t" "$c" "$mode")"; r_off+=("$r"); c_off+=("$u")
      read -r r u <<<"$(load "$on_pid" "$on$path" "$t" "$c" "$mode")"; r_on+=("$r"); c_on+=("$u")
    done
    ro=$(echo "${r_off[*]}" | median); rn=$(echo "${r_on[*]}" | median)
    co=$(echo "${c_off[*]}" | median); cn=$(echo "${c_on[*]}" | median)
    echo "| $name | -t$t -c$c | $mode | $ro | $rn | $(ratio "$rn" "$ro") | $co | $cn | $(ratio "$cn" "$co") |"
  done
done
echo
echo "Counted by the registry with metrics on (route /package/*path, status 200):"
curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep -E '^nessemble_registry_http_requests_total\{route="/package/\*path",status="200"\}|^nessemble_registry_read_answers_total'
