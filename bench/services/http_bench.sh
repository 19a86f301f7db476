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

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-http-bench.XXXXXX")
pid=
stop() {  # stops the one server this script has running, by PID
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    wait "$pid" 2>/dev/null
  fi
  pid=
}
cleanup() {
  stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

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

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 5 s) until something accepts on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2).close()" \
      2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_corio() {  # THREADS -> sets pid, port
  "$server" --port 0 --backend "$backend" --threads "$1" >"$work/corio.out" 2>"$work/corio.err" &
  pid=$!
  port=
  for _ in $(seq 50); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/corio.out")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "http_server did not start: $(cat "$work/corio.err")" >&2
  return 1
}

start_nginx() {  # WORKERS -> sets pid, port
  port=$(free_port)
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes $1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /plaintext { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
  nginx -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  pid=$!
  wait_port "$port" || { echo "nginx did not start: $(cat "$work/nginx/error.log")" >&2; return 1; }
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
    ratio=$(awk -v c="$c" -v n="$n" 'BEGIN { if (n + 0 > 0 && c + 0 > 0) printf "%.2f", c / n; else print "-" }')
    label="http_server --threads $workers"
    [ "$mode" = pipelined ] && mode="pipeline16"
    printf '%-28s %-10s %14s %14s %8s\n' "$label" "$mode" "$c" "$n" "$ratio"
  done
done
echo "(nginx: worker_processes equal to the thread count, return 200 from the config)"
