#!/usr/bin/env bash
# http_server against nginx on the TechEmpower plaintext test, in one run on one machine:
# wrk GET /plaintext without pipelining and with 16 requests per write (a wrk Lua script),
# against http_server with 1 and 2 threads and an nginx with 1 and 2 worker processes that
# answers `return 200 "Hello, World!"` from a config generated here. Prints requests/s and the
# ratio to nginx with as many workers, in the same mode.
# usage: bench/services/http_bench.sh SERVER_BINARY [--duration SECONDS] [--backend B]
# Bounded: each wrk run lasts --duration (default 3 s) under `timeout`; about 30 s in all.
# Only the processes started here are stopped, by PID. Loopback only.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SERVER_BINARY [--duration SECONDS] [--backend B]" >&2
  exit 2
fi
server=$1
shift
duration=3
backend=auto
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }
  case $1 in
    --duration) duration=$2 ;;
    --backend) backend=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
for tool in wrk nginx python3; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/http_common.sh"
bench_init http-bench

cat >"$work/pipeline.lua" <<'LUA'
-- 16 GETs per write: the TechEmpower plaintext pipelining depth.
init = function(args)
  local depth = tonumber(args[1]) or 16
  local batch = {}
  for i = 1, depth do batch[i] = wrk.format(nil, "/plaintext") end
  request_bytes = table.concat(batch)
end
request = function() return request_bytes end
LUA

start_corio() {  # THREADS -> sets pid, port
  start_corio_cmd "$server" --port 0 --backend "$backend" --threads "$1"
}

start_nginx() {  # WORKERS -> sets pid, port
  start_nginx_with "$1" "" ""
}

# run_wrk MODE -> prints requests/s (or "error")
run_wrk() {
  local extra=()
  [ "$1" = pipelined ] && extra=(-s "$work/pipeline.lua" -- 16)
  timeout $((duration + 10)) wrk -t2 -c64 -d"${duration}s" "http://127.0.0.1:$port/plaintext" \
    "${extra[@]}" >"$work/wrk.log" 2>&1 || { echo error; return; }
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.log"; then
    echo "errors: $(grep -E 'Socket errors|Non-2xx' "$work/wrk.log" | tr '\n' ' ')" >&2
  fi
  awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.log"
}

declare -A rate
for workers in 1 2; do
  for who in corio nginx; do
    "start_$who" "$workers" || exit 1
    for mode in plain pipelined; do
      rate[$who,$workers,$mode]=$(run_wrk "$mode")
    done
    stop
  done
done

echo
echo "wrk -t2 -c64 -d${duration}s GET /plaintext on 127.0.0.1 ($(nproc) CPUs; wrk shares them)"
printf '%-28s %-10s %14s %14s %8s\n' server mode requests/s nginx ratio
for workers in 1 2; do
  for mode in plain pipelined; do
    c=${rate[corio,$workers,$mode]}
    n=${rate[nginx,$workers,$mode]}
    ratio=$(ratio "$c" "$n")
    label="http_server --threads $workers"
    [ "$mode" = pipelined ] && mode="pipeline16"
    printf '%-28s %-10s %14s %14s %8s\n' "$label" "$mode" "$c" "$n" "$ratio"
  done
done
echo "(nginx: worker_processes equal to the thread count, return 200 from the config)"
