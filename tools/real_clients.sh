#!/usr/bin/env bash
# Runs every service's real-client drive (tools/clients/SERVICE.sh, driving the SERVICE_server
# of a build with real clients such as curl or nc) once per backend and thread count:
#   tools/clients/X.sh BUILD/examples/X_server --backend B --threads N     (exit 0 = ok)
# One line per run (ok / FAIL / TIMEOUT / skip); a drive that does not exist yet is skipped.
# Each run is also one line of a testlog in meson's testlog.json format, so
# tools/count_tests.py counts these runs with the other suites.
#
# usage: tools/real_clients.sh BUILD_DIR [--backends epoll,io_uring] [--threads 1,2]
#                              [--testlog PATH]
#   --backends  default: epoll, plus io_uring when BUILD_DIR/examples/echo_server can start
#               with it (built and allowed by the kernel)
#   --testlog   default: BUILD_DIR/meson-logs/real_clients.json
# Exits non-zero if any run failed. Bounded: at most 60 s per run and about 170 s in all; runs
# that would start past that count as failed, so a hang shows instead of hiding.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
services=(http kv chat)
run_limit=60
total_limit=170

usage() {
  echo "usage: $0 BUILD_DIR [--backends a,b] [--threads 1,2] [--testlog PATH]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
[ -d "$build" ] || { echo "$0: $build: no such build directory" >&2; exit 2; }
build=$(cd "$build" && pwd)
backends=
thread_counts=1,2
testlog=$build/meson-logs/real_clients.json
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
    --backends) backends=$2 ;;
    --threads) thread_counts=$2 ;;
    --testlog) testlog=$2 ;;
    *) usage ;;
  esac
  shift 2
done

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-real-clients.XXXXXX")
probe_pid=
cleanup() {
  if [ -n "$probe_pid" ] && kill -0 "$probe_pid" 2>/dev/null; then kill -KILL "$probe_pid"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# True when echo_server starts on backend $1: it prints its listening line, then is stopped.
backend_starts() {
  local echo_server=$build/examples/echo_server line=
  [ -x "$echo_server" ] || return 1
  rm -f "$work/probe"
  mkfifo "$work/probe"
  "$echo_server" --backend "$1" --port 0 >"$work/probe" 2>/dev/null &
  probe_pid=$!
  exec 3<"$work/probe"
  IFS= read -r -t 5 -u 3 line
  exec 3<&-
  kill -TERM "$probe_pid" 2>/dev/null
  wait "$probe_pid" 2>/dev/null
  probe_pid=
  [[ $line == "listening on "* ]]
}

if [ -z "$backends" ]; then
  backends=epoll
  if backend_starts io_uring; then
    backends+=,io_uring
  else
    echo "io_uring: echo_server does not start with it (not built, or refused): not run"
  fi
fi

mkdir -p "$(dirname "$testlog")"
: >"$testlog"

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  s=${s//$'\n'/\\n}
  printf '"%s"' "$s"
}

# record NAME RESULT SECONDS RETURNCODE LOG COMMAND...: one testlog line. The log's tail goes
# in as printable ASCII, so the line stays valid JSON and UTF-8 whatever the drive printed.
record() {
  local name=$1 result=$2 seconds=$3 rc=$4 log=$5 word command=
  shift 5
  for word in "$@"; do command+=${command:+, }$(json_string "$word"); done
  printf '{"name": %s, "result": "%s", "duration": %s, "returncode": %s, "suite": ["real_clients"], "command": [%s], "stdout": %s}\n' \
    "$(json_string "$name")" "$result" "$seconds" "$rc" "$command" \
    "$(json_string "$(tail -c 4000 "$log" 2>/dev/null | LC_ALL=C tr -cd '\11\12\15\40-\176')")" \
    >>"$testlog"
}

failed=0
started_all=$SECONDS
echo "real clients: backends ${backends//,/ }; threads ${thread_counts//,/ }"
for backend in ${backends//,/ }; do
  for threads in ${thread_counts//,/ }; do
    for service in "${services[@]}"; do
      name=real_clients_${service}_${backend}_threads${threads}
      drive=$root/tools/clients/$service.sh
      server=$build/examples/${service}_server
      log=$work/$name.log
      command=("$drive" "$server" --backend "$backend" --threads "$threads")
      left=$((total_limit - (SECONDS - started_all)))
      if [ ! -f "$drive" ]; then
        printf '%-7s %s\n' skip "$name (no tools/clients/$service.sh)"
        echo "no tools/clients/$service.sh" >"$log"
        record "$name" SKIP 0 77 "$log" "${command[@]}"
        continue
      fi
      if [ ! -x "$server" ]; then
        result=FAIL rc=1 took=0
        echo "$server was not built" >"$log"
      elif [ "$left" -lt 10 ]; then
        result=FAIL rc=1 took=0
        echo "not run: the ${total_limit} s budget of all runs was spent" >"$log"
      else
        limit=$((left < run_limit ? left : run_limit))
        begin=$SECONDS
        timeout -k 5 "$limit" bash "${command[@]}" >"$log" 2>&1
        rc=$?
        took=$((SECONDS - begin))
        if [ $rc -eq 0 ]; then
          result=OK
        elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
          result=TIMEOUT
          echo "(stopped after $limit s)" >>"$log"
        else
          result=FAIL
        fi
      fi
      record "$name" "$result" "$took" "$rc" "$log" "${command[@]}"
      if [ "$result" = OK ]; then
        printf '%-7s %s\n' ok "$name (${took} s)"
      else
        failed=$((failed + 1))
        printf '%-7s %s\n' "$result" "$name (${took} s)"
        sed 's/^/    /' "$log" | tail -n 30
      fi
    done
  done
done
echo "real clients: $failed failed, testlog $testlog ($((SECONDS - started_all)) s)"
[ $failed -eq 0 ]
