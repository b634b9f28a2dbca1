#!/usr/bin/env bash
# Load script: the registry side by side with nginx serving the very same
# bytes from static files, both on 127.0.0.1, loaded by wrk. Prints a
# Markdown table of requests/s, p50/p99 latency and CPU time per request,
# each with its ratio to nginx, and both servers' idle and peak RSS.
# Each cell is loaded ROUNDS times, the registry and nginx in turn, and
# the table gives the medians: of each figure, and of the ratios of the
# rounds' pairs (the two servers share the machine's cores with wrk, so
# one run's ratio moves with whatever else the machine is doing).
# A last table puts the package document beside a bare net/http handler
# serving the same bytes with the same headers (bench/plain): what the
# registry's own HTTP/1.1 fast path (fastpath/) gains over net/http.
#
#   bash bench/run.sh                 # about 8 minutes
#   ROUNDS=1 bash bench/run.sh        # about 3 minutes
#   DURATION=10 bash bench/run.sh     # longer runs, steadier figures
#   METRICS=1 bash bench/run.sh       # with --metrics-addr (Prometheus on)
#
# Needs the Debian packages wrk, nginx-light, curl and python3 (installed
# if missing and run as root). Everything it starts runs in a temp folder and is stopped on
# exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
PACKAGES=${PACKAGES:-200}
METRICS=${METRICS:-0}

missing=()
for tool in wrk:wrk nginx:nginx-light curl:curl python3:python3; do
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
reg_pid= plain_pid=
cleanup() {
  for pid in $reg_pid $plain_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null
  sleep 0.2; rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port); ngx_port=$(free_port)
reg=http://127.0.0.1:$reg_port; ngx=http://127.0.0.1:$ngx_port

go build -o "$tmp/nessemble-registry" .
go build -o "$tmp/seed" ./bench/seed
go build -o "$tmp/plain" ./bench/plain

metrics=()
[ "$METRICS" = 1 ] && metrics=(--metrics-addr "127.0.0.1:$(free_port)")
start_registry() {
  "$tmp/nessemble-registry" serve --data "$tmp/data" --addr "127.0.0.1:$reg_port" \
    --rate-limit 100000000 "${metrics[@]}" 2>>"$tmp/registry.log" &
  reg_pid=$!
  for _ in $(seq 100); do curl -sf "$reg/status" >/dev/null && return; sleep 0.05; done
  echo "bench: registry did not start" >&2; exit 1
}

start_registry
"$tmp/seed" -registry "$reg" -packages "$PACKAGES" -versions 3 >/dev/null
# Restart, so that idle RSS is that of a registry that has served nothing.
kill "$reg_pid"; wait "$reg_pid" 2>/dev/null || true
start_registry
sleep 1
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
idle_rss=$(rss "$reg_pid" VmRSS)

# What a browser sends: the registry answers it with the package's web page.
browser_accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# The same bytes for nginx to serve.
mkdir -p "$tmp/www" "$tmp/nginx"
curl -sf "$reg/package/bench-0001" -o "$tmp/www/doc.json"
curl -sf "$reg/package/bench-0001/data" -o "$tmp/www/data.tar.gz"
curl -sf "$reg/search/bench-00" -o "$tmp/www/search.json"
curl -sf "$reg/" -o "$tmp/www/list.json"
curl -sf -H "Accept: $browser_accept" "$reg/package/bench-0001" -o "$tmp/www/page.html"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log $tmp/nginx/access.log;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$ngx_port;
    root $tmp/www;
    location ~ \.json\$ { default_type application/json; }
    location ~ \.tar\.gz\$ { default_type application/tar+gzip; }
    location ~ \.html\$ { default_type text/html; }
  }
}
CONF
nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
for _ in $(seq 100); do curl -sf "$ngx/doc.json" >/dev/null && break; sleep 0.05; done
ngx_master=$(cat "$tmp/nginx/nginx.pid")
sleep 1
ngx_pids() { echo "$ngx_master" $(pgrep -P "$ngx_master"); }
# rss_sum KEY PID...: the processes' VmRSS or VmHWM, summed, in KiB.
rss_sum() { local k=$1 t=0 p; shift; for p in "$@"; do t=$((t + $(rss "$p" "$k"))); done; echo $t; }
ngx_idle_rss=$(rss_sum VmRSS $(ngx_pids))

clk=$(getconf CLK_TCK)
# cpu_ticks PID...: user+system ticks of the processes (nginx: master and workers).
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $t; }

# load PIDS URL THREADS CONNS CLOSE [ACCEPT] -> "rps p50ms p99ms cpu_us_per_req"
load() {
  local pids=$1 url=$2 t=$3 c=$4 close=$5 accept=${6:-} hdr=() before after out
  [ "$close" = close ] && hdr=(-H "Connection: close")
  [ -n "$accept" ] && hdr+=(-H "Accept: $accept")
  before=$(cpu_ticks $pids)
  out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" --latency "${hdr[@]}" "$url")
  after=$(cpu_ticks $pids)
  awk -v ticks=$((after - before)) -v clk="$clk" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / requests in / { n = $1 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%.0f %.3f %.3f %.1f\n", rps, p50, p99, (n > 0 ? ticks * 1e6 / clk / n : 0) }' <<<"$out"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# median V...: the middle value (the mean of the two middle ones).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# rounds NAME1 PIDS1 URL1 NAME2 PIDS2 URL2 THREADS CONNS CLOSE [ACCEPT]:
# ROUNDS loads of each, in turn; sets <NAME>_rps, _p50, _p99, _cpu to the
# medians and <NAME1>_ratio to the median of the rounds' req/s ratios.
rounds() {
  local a=$1 apids=$2 aurl=$3 b=$4 bpids=$5 burl=$6 t=$7 c=$8 close=$9 accept=${10:-}
  local i ar=() ap50=() ap99=() acpu=() br=() bp50=() bp99=() bcpu=() rs=() x
  for ((i = 0; i < ROUNDS; i++)); do
    read -r -a x <<<"$(load "$apids" "$aurl" "$t" "$c" "$close" "$accept")"
    ar+=("${x[0]}") ap50+=("${x[1]}") ap99+=("${x[2]}") acpu+=("${x[3]}")
    read -r -a x <<<"$(load "$bpids" "$burl" "$t" "$c" "$close" "$accept")"
    br+=("${x[0]}") bp50+=("${x[1]}") bp99+=("${x[2]}") bcpu+=("${x[3]}")
    rs+=("$(ratio "${ar[i]}" "${br[i]}")")
  done
  printf -v "${a}_rps" %s "$(median "${ar[@]}")"; printf -v "${b}_rps" %s "$(median "${br[@]}")"
  printf -v "${a}_p50" %s "$(median "${ap50[@]}")"; printf -v "${b}_p50" %s "$(median "${bp50[@]}")"
  printf -v "${a}_p99" %s "$(median "${ap99[@]}")"; printf -v "${b}_p99" %s "$(median "${bp99[@]}")"
  printf -v "${a}_cpu" %s "$(median "${acpu[@]}")"; printf -v "${b}_cpu" %s "$(median "${bcpu[@]}")"
  printf -v "${a}_ratio" %s "$(median "${rs[@]}")"
}

echo "| answer | wrk | connection | registry req/s | nginx req/s | ratio | registry p50/p99 ms | nginx p50/p99 ms | p50/p99 ratio | registry CPU µs/req | nginx CPU µs/req | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for target in "package document:/package/bench-0001:/doc.json" \
              "tarball:/package/bench-0001/data:/data.tar.gz" \
              "search:/search/bench-00:/search.json" \
              "list (/):/:/list.json" \
              "package page (HTML):/package/bench-0001:/page.html:browser"; do
  IFS=: read -r name rpath npath accept <<<"$target"
  [ "$accept" = browser ] && accept=$browser_accept
  for tc in "2 32" "1 1"; do
    read -r t c <<<"$tc"
    for mode in keep-alive close; do
      rounds r "$reg_pid" "$reg$rpath" n "$(ngx_pids)" "$ngx$npath" "$t" "$c" "$mode" "$accept"
      echo "| $name | -t$t -c$c | $mode | $r_rps | $n_rps | $r_ratio | $r_p50 / $r_p99 | $n_p50 / $n_p99 | $(ratio "$r_p50" "$n_p50") / $(ratio "$r_p99" "$n_p99") | $r_cpu | $n_cpu | $(ratio "$r_cpu" "$n_cpu") |"
    done
  done
done
plain_port=$(free_port)
"$tmp/plain" "$tmp/www/doc.json" application/json "127.0.0.1:$plain_port" &
plain_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$plain_port/" >/dev/null && break; sleep 0.05; done
echo
echo "| package document | wrk | connection | registry req/s | bare net/http req/s | ratio |"
echo "|---|---|---|---|---|---|"
for tc in "2 32" "1 1"; do
  read -r t c <<<"$tc"
  for mode in keep-alive close; do
    rounds r "$reg_pid" "$reg/package/bench-0001" p "$plain_pid" "http://127.0.0.1:$plain_port/" "$t" "$c" "$mode"
    echo "| | -t$t -c$c | $mode | $r_rps | $p_rps | $r_ratio |"
  done
done
kill "$plain_pid"; wait "$plain_pid" 2>/dev/null || true; plain_pid=

peak_rss=$(rss "$reg_pid" VmHWM)
ngx_peak_rss=$(rss_sum VmHWM $(ngx_pids))
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "| RSS | registry MiB | nginx MiB (master and workers) | ratio |"
echo "|---|---|---|---|"
echo "| idle | $(mib "$idle_rss") | $(mib "$ngx_idle_rss") | $(ratio "$idle_rss" "$ngx_idle_rss") |"
echo "| peak (VmHWM) | $(mib "$peak_rss") | $(mib "$ngx_peak_rss") | $(ratio "$peak_rss" "$ngx_peak_rss") |"
