#!/usr/bin/env bash
# Drives chat_server with real nc clients (netcat-openbsd), as a person at a terminal would:
# bob stays connected and watches; alice joins, talks and quits; carol first asks for a taken
# nickname, then talks and ends with a half-close (nc -N). The server is then stopped with
# SIGTERM, must exit 0, and bob's nc must see the end of the stream.
# usage: tools/clients/chat.sh SERVER_BINARY [--backend B] [--threads N]
# Exit 0 when every step went as expected. Bounded: each wait has a timeout (about 30 s total
# at worst). Only the processes started here are stopped, by PID.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 SERVER_BINARY [--backend B] [--threads N]" >&2
  exit 2
fi
server=$1
shift
wait_limit=5  # seconds for any one expected line

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-chat.XXXXXX")
server_pid=
bob_pid=
cleanup() {
  for pid in $bob_pid $server_pid; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  for f in "$work"/*.log; do
    [ -s "$f" ] && { echo "--- ${f##*/}"; tail -n 20 "$f"; }
  done
  exit 1
}

# expect_line FD WANT WHO: reads lines from FD (CR stripped) until one equals WANT; other
# lines (notices about others) are skipped. Fails after $wait_limit s without a line, at end
# of stream, or after 100 lines.
expect_line() {
  local fd=$1 want=$2 who=$3 line
  for _ in $(seq 100); do
    IFS= read -r -t "$wait_limit" -u "$fd" line || fail "$who: no '$want' (timeout or end)"
    line=${line%$'\r'}
    echo "$line" >>"$work/$who.log"
    [ "$line" = "$want" ] && return 0
  done
  fail "$who: no '$want' within 100 lines"
}

# nc_session NAME INPUT: one nc client that sends INPUT, then shuts its write side (-N) and
# reads until the server closes. Its output goes to $work/NAME.log.
nc_session() {
  printf '%b' "$2" | timeout 10 nc -N 127.0.0.1 "$port" | tr -d '\r' >"$work/$1.log" ||
    fail "$1: nc failed or timed out"
}

in_log() { grep -qxF -- "$2" "$work/$1.log" || fail "$1: no '$2' in its output"; }

command -v nc >/dev/null || fail "no nc: install netcat-openbsd"

# The server, its stdout through a FIFO: its first line is read without polling, and the
# FIFO's end of file later tells that the server exited.
mkfifo "$work/server.out" "$work/bob.in" "$work/bob.out"
"$server" --port 0 "$@" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
exec 3<"$work/server.out"
IFS= read -r -t 10 -u 3 listening || fail "server: no listening line within 10 s"
[[ $listening =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] ||
  fail "server: first line is '$listening'"
port=${BASH_REMATCH[1]}
echo "server pid $server_pid on port $port ($*)"

# bob: an interactive nc, fed through one FIFO and read through another.
timeout 30 nc 127.0.0.1 "$port" <"$work/bob.in" >"$work/bob.out" &
bob_pid=$!
exec 4>"$work/bob.in" 5<"$work/bob.out"
expect_line 5 "* welcome to corio chat; your nickname?" bob
echo bob >&4
expect_line 5 "* hello bob; commands: /who, /nick NEW, /quit" bob

nc_session alice 'alice\nhello from alice\n/who\n/quit\n'
in_log alice "* hello alice; commands: /who, /nick NEW, /quit"
in_log alice "* here: alice, bob"
in_log alice "* bye"
expect_line 5 "* alice joined" bob
expect_line 5 "<alice> hello from alice" bob
expect_line 5 "* alice left" bob
echo "alice: joined, talked, /who, /quit; bob saw it all"

nc_session carol 'bob\ncarol\r\nhi from carol\r\nno newline at the end'
in_log carol "! nickname taken: bob"
in_log carol "* hello carol; commands: /who, /nick NEW, /quit"
expect_line 5 "* carol joined" bob
expect_line 5 "<carol> hi from carol" bob
expect_line 5 "<carol> no newline at the end" bob
expect_line 5 "* carol left" bob
echo "carol: taken nickname refused, CRLF lines, half-close; bob saw it all"

echo "/who" >&4
expect_line 5 "* here: bob" bob

kill -TERM "$server_pid"
# The FIFO's writer is the server alone: end of file there means it exited.
if IFS= read -r -t 3 -u 3 extra; then
  fail "server: printed '$extra' after its listening line"
elif [ $? -gt 128 ]; then
  fail "server: still running 3 s after SIGTERM"
fi
wait "$server_pid"
status=$?
server_pid=
[ $status -eq 0 ] || fail "server: exit $status after SIGTERM"
expect_line 5 "* server shutting down" bob
# nc keeps running while its stdin is open; with stdin closed it exits once the server's FIN
# arrives (a reset would make it fail, and a missing FIN would keep it running).
exec 4>&-
if IFS= read -r -t "$wait_limit" -u 5 line; then
  fail "bob: got '$line' after the shutdown notice"
elif [ $? -gt 128 ]; then
  fail "bob: no end of stream within $wait_limit s of the shutdown"
fi
wait "$bob_pid"
bob_status=$?
bob_pid=
[ $bob_status -eq 0 ] || fail "bob: nc exit $bob_status"
echo "SIGTERM: server exit 0, bob saw the shutdown notice and the end of the stream"
echo "ok"
