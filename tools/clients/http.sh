#!/usr/bin/env bash
# Drives http_server with unmodified real clients: curl (plaintext, HEAD, 404, HTTP/1.0,
# connection reuse, a 1 MiB echo with Content-Length and chunked, a 413), then a few seconds
# each of wrk, ab (keep-alive, one connection per request, POST) and h2load (HTTP/1.1,
# pipelined). Any transport error, non-2xx answer where a 2xx is due, or short count fails.
# The server is started here (--port 0, its `listening on` line gives the port) and stopped by
# PID with SIGTERM, which it must survive with exit 0.
# usage: tools/clients/http.sh SERVER_BINARY [--backend B] [--threads N]
# Exit 0 when every client was satisfied. Bounded: every client runs under `timeout`, about
# 30 s in all.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SERVER_BINARY [--backend B] [--threads N]" >&2
  exit 2
fi
server=$1
shift
for tool in curl wrk ab h2load; do
  command -v "$tool" >/dev/null || { echo "skip: $tool is not installed"; exit 77; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-http.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log "$work"/server.err; do
    [ -s "$f" ] && { echo "--- ${f##*/}"; tail -n 15 "$f"; }
  done
  exit 1
}

"$server" --port 0 "$@" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
port=
for _ in $(seq 100); do  # up to 10 s for the line
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/server.out")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "server exited before listening"
  sleep 0.1
done
[ -n "$port" ] || fail "no 'listening on' line within 10 s"
base=http://127.0.0.1:$port
echo "server: $server $* on port $port"

# ---- curl
c() { timeout 10 curl -sS --max-time 8 "$@"; }
[ "$(c "$base/plaintext")" = "Hello, World!" ] || fail "curl GET /plaintext"
[ "$(c -o /dev/null -w '%{http_code}' "$base/")" = 200 ] || fail "curl GET /"
[ "$(c -o /dev/null -w '%{http_code}' "$base/nope")" = 404 ] || fail "curl GET /nope is not 404"
[ "$(c -o /dev/null -w '%{http_code}' -X PUT "$base/plaintext")" = 405 ] || fail "curl PUT"
c -I "$base/plaintext" | tr -d '\r' | grep -qix 'content-length: 13' || fail "curl HEAD"
[ "$(c --http1.0 "$base/plaintext")" = "Hello, World!" ] || fail "curl --http1.0"
c -v "$base/plaintext" "$base/plaintext" "$base/" -o /dev/null -o /dev/null -o /dev/null \
  2>"$work/reuse.log" || fail "curl three URLs"
grep -q 'Re-using existing connection' "$work/reuse.log" || fail "curl did not reuse the connection"
head -c 1048576 /dev/urandom >"$work/body"
c --data-binary "@$work/body" -H 'Content-Type: application/octet-stream' "$base/echo" \
  -o "$work/echoed" || fail "curl POST 1 MiB"
cmp -s "$work/body" "$work/echoed" || fail "curl: the 1 MiB echo differs"
c --data-binary "@$work/body" -H 'Transfer-Encoding: chunked' "$base/echo" -o "$work/echoed" ||
  fail "curl POST 1 MiB chunked"
cmp -s "$work/body" "$work/echoed" || fail "curl: the chunked echo differs"
cat "$work/body" "$work/body" >"$work/big"
code=$(c -o /dev/null -w '%{http_code}' --data-binary "@$work/big" "$base/echo")
[ "$code" = 413 ] || fail "curl POST 2 MiB: $code, want 413"
echo "curl: ok"

# ---- wrk: keep-alive GETs for 3 s; it prints these lines only when something went wrong.
timeout 20 wrk -t2 -c32 -d3s "$base/plaintext" >"$work/wrk.log" 2>&1 || fail "wrk failed"
grep -qE 'Socket errors|Non-2xx' "$work/wrk.log" && fail "wrk saw errors"
wrk_rate=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.log")
[ -n "$wrk_rate" ] || fail "wrk printed no rate"
echo "wrk: $wrk_rate requests/s, no errors"

# ---- ab: keep-alive, a connection per request (HTTP/1.0), and POSTs checked for length.
ab_check() {  # LOG COUNT
  grep -q "^Complete requests: *$2$" "$1" || fail "ab: not $2 complete requests"
  grep -q '^Failed requests: *0$' "$1" || fail "ab: failed requests"
  grep -q '^Non-2xx responses' "$1" && fail "ab: non-2xx responses"
  return 0
}
timeout 20 ab -q -k -n 20000 -c 16 "$base/plaintext" >"$work/ab_keepalive.log" 2>&1 ||
  fail "ab -k failed"
ab_check "$work/ab_keepalive.log" 20000
timeout 20 ab -q -n 2000 -c 8 "$base/plaintext" >"$work/ab_close.log" 2>&1 || fail "ab failed"
ab_check "$work/ab_close.log" 2000
head -c 4000 /dev/urandom >"$work/post"
timeout 20 ab -q -k -n 2000 -c 4 -p "$work/post" -T application/octet-stream "$base/echo" \
  >"$work/ab_post.log" 2>&1 || fail "ab -p failed"
ab_check "$work/ab_post.log" 2000
echo "ab: $(awk '/^Requests per second/ {print $4}' "$work/ab_keepalive.log") requests/s" \
     "keep-alive, $(awk '/^Requests per second/ {print $4}' "$work/ab_close.log") closing," \
     "no errors"

# ---- h2load over HTTP/1.1, 8 requests in flight per connection (pipelined).
timeout 20 h2load --h1 -n 40000 -c 16 -m 8 "$base/plaintext" >"$work/h2load.log" 2>&1 ||
  fail "h2load failed"
grep -q '^requests: 40000 total, 40000 started, 40000 done, 40000 succeeded, 0 failed, 0 errored, 0 timeout$' \
  "$work/h2load.log" || fail "h2load: not every request succeeded"
grep -q '^status codes: 40000 2xx' "$work/h2load.log" || fail "h2load: non-2xx status codes"
echo "h2load: $(awk '/^finished in/ {print $4, $5}' "$work/h2load.log" | tr -d ,) pipelined, no errors"

# ---- SIGTERM: exit 0 within 2 s.
kill -TERM "$server_pid"
for _ in $(seq 20); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && fail "server still running 2 s after SIGTERM"
wait "$server_pid"
status=$?
server_pid=
[ "$status" = 0 ] || fail "server exited with $status after SIGTERM"
echo "ok: curl, wrk, ab, h2load; SIGTERM exit 0"
