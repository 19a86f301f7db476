#!/usr/bin/env bash
# redis-benchmark against examples/kv_server (--threads 1 and 2) and against redis-server, in
# one run on the same machine: PING (inline and multibulk), SET, GET, INCR, unpipelined (-P 1)
# and pipelined (-P 16), 50 connections. Prints requests/s and the ratio to redis-server.
#
# usage: bench/services/kv_bench.sh path/to/kv_server [--backend X] [-n REQUESTS]
#
# Every server is started here on an ephemeral 127.0.0.1 port and stopped by its own PID;
# redis-server runs without persistence (--save '' --appendonly no). A release build of
# kv_server is what the numbers mean (meson setup -Dbuildtype=release).
set -euo pipefail

if [[ $# -lt 1 || ! -x $1 ]]; then
  echo "usage: $0 path/to/kv_server [--backend X] [-n REQUESTS]" >&2
  exit 2
fi
server=$1
shift
backend=auto
requests=100000
while [[ $# -gt 0 ]]; do
  case $1 in
    --backend) backend=$2; shift 2 ;;
    -n) requests=$2; shift 2 ;;
    *) echo "$0: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in redis-benchmark redis-server; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; fi
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID: until something accepts on PORT (bounded: 10 s).
wait_port() {
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || { echo "server $2 died" >&2; return 1; }
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

start_kv() {  # start_kv THREADS -> sets port
  local out=$work/kv$1.out
  "$server" --port 0 --backend "$backend" --threads "$1" >"$out" 2>"$work/kv$1.err" &
  pids+=($!)
  local pid=$!
  port=
  for _ in $(seq 100); do
    if read -r line 2>/dev/null <"$out" && [[ $line =~ :([0-9]+)$ ]]; then
      port=${BASH_REMATCH[1]}
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "kv_server --threads $1 did not start: $(cat "$work/kv$1.err")" >&2
  return 1
}

start_kv 1; kv1=$port
start_kv 2; kv2=$port
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --logfile "$work/redis.log" &
pids+=($!)
wait_port "$redis_port" $!

declare -A rps
# run NAME PORT PIPELINE: fills rps[NAME,P,TEST]; fails on any error line.
run() {
  local csv
  csv=$(timeout 300 redis-benchmark -h 127.0.0.1 -p "$2" -c 50 -n "$requests" -P "$3" \
        -t ping,set,get,incr --csv 2>&1)
  if grep -qi 'err' <<<"$csv"; then
    echo "redis-benchmark against $1 reported errors:" >&2
    echo "$csv" >&2
    exit 1
  fi
  while IFS=, read -r test value _; do
    test=${test//\"/}
    value=${value//\"/}
    [[ $test == test || -z $test ]] && continue
    rps[$1,$3,$test]=$value
  done <<<"$csv"
}

for p in 1 16; do
  # Interleaved per pipeline depth so that machine noise hits every server alike.
  run kv1 "$kv1" "$p"
  run kv2 "$kv2" "$p"
  run redis "$redis_port" "$p"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "redis-benchmark -c 50 -n $requests, kv_server --backend $backend, $(nproc) CPUs"
printf '%-12s %3s %14s %14s %14s %9s %9s\n' test P kv_threads1 kv_threads2 redis-server \
  "t1/redis" "t2/redis"
for p in 1 16; do
  for t in PING_INLINE PING_MBULK SET GET INCR; do
    a=${rps[kv1,$p,$t]:-0} b=${rps[kv2,$p,$t]:-0} r=${rps[redis,$p,$t]:-0}
    printf '%-12s %3s %14s %14s %14s %9s %9s\n' "$t" "$p" "$a" "$b" "$r" "$(ratio "$a" "$r")" \
      "$(ratio "$b" "$r")"
  done
done
