#!/usr/bin/env bash
# The bench showcase, in one command: installs missing packages, builds corio in release mode,
# says hello in both styles, then compares echo servers (corio coroutines and callbacks on each
# built backend, a hand-written epoll echo, asio, libuv and tokio), runs the micro benchmarks
# beside asio's and tokio's, and puts http_server beside nginx and kv_server beside redis-server.
# Throughput and latency are timings: median and min-max of rounds that alternate the servers;
# instructions, syscalls and allocations per message are counts.
# Writes bench/results/report.md, chart.png, results.json, micro.md and micro.json (not kept in
# git). tokio is built by cargo from Debian's vendored crates (bench/peers/tokio), offline.
#   tools/showcase.sh            short profile (3 rounds), about fifteen minutes
#   tools/showcase.sh --full     longer runs, 5 rounds
# CORIO_BUILD=dir picks another build directory (default: build-release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
full=()
[ "${1:-}" = "--full" ] && full=(--full)
"$root/tools/install-deps.sh" valgrind strace gnuplot-nox libasio-dev libuv1-dev util-linux \
  nginx-light redis-server cargo librust-tokio-dev
build=${CORIO_BUILD:-$root/build-release}
[ -d "$build/meson-private" ] ||
  meson setup "$build" "$root" --buildtype=release -Dtests=disabled -Dexamples=enabled -Dbench=enabled
meson compile -C "$build"

for name in hello_callbacks hello; do
  if [ -x "$build/examples/$name" ]; then echo "\$ $name"; "$build/examples/$name"; echo; fi
done

results=$root/bench/results
mkdir -p "$results"
python3 "$root/bench/compare.py" --build "$build" --out "$results" "${full[@]}"
echo
min_time=0.05
[ ${#full[@]} -gt 0 ] && min_time=0.2
echo "micro benchmarks beside asio and tokio (bench/results/micro.md):"
timeout 900 python3 "$root/bench/micro_compare.py" --build "$build" --out "$results" \
  --min-time $min_time
echo
# The services beside their reference servers, same machine, same run: http_server vs nginx
# (wrk, plaintext with and without pipelining), kv_server vs redis-server (redis-benchmark).
# Appended to the report; a peer that is not installed is skipped with a line saying so.
{
  echo
  echo "## Services beside nginx and redis-server"
  echo
  echo '```'
  timeout 120 "$root/bench/services/http_bench.sh" "$build/examples/http_server" || true
  echo
  timeout 300 "$root/bench/services/kv_bench.sh" "$build/examples/kv_server" || true
  echo '```'
} | tee -a "$results/report.md"
echo
echo "report: $results/report.md, chart: $results/chart.png"
