#!/usr/bin/env bash
# Drives examples/kv_server with the real Redis clients: redis-cli (replies checked) and
# redis-benchmark (any error fails), checks that INCR from parallel clients loses nothing,
# then stops the server with SIGTERM and checks that it exits 0 within 2 s.
#
# usage: tools/clients/kv.sh path/to/kv_server [--backend epoll|io_uring|auto] [--threads N]
#
# Starts the server itself on an ephemeral 127.0.0.1 port and stops only that PID. Every wait
# is bounded; every client runs under `timeout`.
set -euo pipefail

if [[ $# -lt 1 || ! -x $1 ]]; then
  echo "usage: $0 path/to/kv_server [--backend X] [--threads N]" >&2
  exit 2
fi
server=$1
shift
for tool in redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (apt-get install redis-tools)" >&2; exit 2; }
done

work=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$server" --port 0 "$@" >"$work/out" 2>"$work/err" &
pid=$!
port=
for _ in $(seq 100); do  # up to 10 s for the listening line
  if read -r line 2>/dev/null <"$work/out" && [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
    port=${BASH_REMATCH[1]}
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $port ]] || { echo "FAIL: no listening line; stderr: $(cat "$work/err")" >&2; exit 1; }
echo "kv_server $* on port $port (pid $pid)"

failures=0
cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"; }
check() {  # check "description" expected actual
  if [[ $2 == "$3" ]]; then
    echo "ok   $1"
  else
    echo "FAIL $1: got '$3', wanted '$2'"
    failures=$((failures + 1))
  fi
}

check "PING" "PONG" "$(cli ping)"
check "SET" "OK" "$(cli set greeting 'hello world')"
check "GET" "hello world" "$(cli get greeting)"
check "SET NX on a present key" "" "$(cli set greeting x nx)"
check "INCR" "1" "$(cli incr visits)"
check "INCRBY" "11" "$(cli incrby visits 10)"
check "MSET" "OK" "$(cli mset a 1 b 2)"
check "MGET" $'1\n2\n' "$(cli mget a b nokey)"$'\n'
check "EXISTS" "2" "$(cli exists a b nokey)"
check "EXPIRE" "1" "$(cli expire a 100)"
check "TTL" "100" "$(cli ttl a)"
check "DEL" "2" "$(cli del a b)"
check "DBSIZE" "2" "$(cli dbsize)"
check "unknown command" "ERR unknown command 'nosuch', with args beginning with: 'x' " \
      "$(cli nosuch x 2>&1)"
check "wrong arity" "ERR wrong number of arguments for 'get' command" "$(cli get 2>&1)"
printf 'a\0b\r\nc' | cli -x set bin >/dev/null
check "binary value through -x" " 61 00 62 0d 0a 63 0a" "$(cli --raw get bin | od -An -tx1 | tr -d '\n')"
check "FLUSHALL" "OK" "$(cli flushall)"
# Issue 17's reproduction: 63 stars and an 'x' froze a worker (exponential glob). Bounded by
# a 2 s timeout of its own; PING from another connection must answer right after.
stars=$(printf '*%.0s' $(seq 63))
check "CONFIG GET with 63 stars answers in time" "" \
  "$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" config get "${stars}x" || echo timed out)"
check "PING after the pattern" "PONG" "$(cli ping)"

# redis-benchmark: -q prints one line per test; errors show up as "Error"/"ERR" lines, and a
# test that could not run prints nothing for itself.
bench=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -t ping,set,get,incr -P 16 -n 20000 -q 2>&1 | tr '\r' '\n')
echo "$bench" | grep 'requests per second' || true
lines=$(echo "$bench" | grep -c 'requests per second' || true)
check "redis-benchmark: 5 results (ping inline+mbulk, set, get, incr)" "5" "$lines"
check "redis-benchmark: no errors" "0" "$(echo "$bench" | grep -ci 'err' || true)"

# No lost INCR: 50 benchmark connections (spread over the workers with --threads N) all
# increment one key, then 4 redis-cli loops of 250 more.
cli del counter:__rand_int__ >/dev/null
timeout 120 redis-benchmark -h 127.0.0.1 -p "$port" -t incr -c 50 -P 4 -n 20000 -q >/dev/null 2>&1
check "INCR from 50 parallel connections" "20000" "$(cli get counter:__rand_int__)"
cli del loops >/dev/null
loops=()
for _ in 1 2 3 4; do
  cli -r 250 incr loops >/dev/null &
  loops+=($!)
done
wait "${loops[@]}"
check "INCR from 4 redis-cli loops" "1000" "$(cli get loops)"

kill -TERM "$pid"
status=
for _ in $(seq 20); do  # up to 2 s
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && status=0 || status=$?
    break
  fi
  sleep 0.1
done
check "exit status within 2 s of SIGTERM" "0" "${status:-still running}"
pid=

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all kv.sh checks passed"
