#!/usr/bin/env bash
# What including corio costs a user: the preprocessed size and the compile time of one small echo
# service (about 20 lines) written against <corio/corio.hpp>, then against only the headers it
# needs (corio/tcp.hpp and corio/runtime.hpp).
#
#   tools/header_cost.sh                 # g++ -std=c++20 -O2, each compile once
#   CXX=clang++-14 RUNS=3 tools/header_cost.sh
#
# Calls the compiler directly (no ccache), one compile at a time, each under a 120 s timeout.
# Prints one line per header set: preprocessed lines, then the compile's CPU time in seconds
# (user + sys, the best of RUNS). For scale: the standard headers corio's public headers use
# (<chrono>, <memory>, <stop_token>, <system_error>, <variant>, ...) preprocess to about 86,000
# lines on their own with g++ 12.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx="${CXX:-g++}"
cxx="${cxx#ccache }"
runs="${RUNS:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

service() {  # $1: the include lines
  cat <<CPP
$1
#include <array>
#include <span>

corio::task<> echo(corio::tcp_stream s) {
  std::array<std::byte, 4096> buffer;
  for (;;) {
    auto n = co_await s.read(buffer);
    if (!n || *n == 0) co_return;
    if (!co_await s.write_all(std::span(buffer).first(*n))) co_return;
  }
}

corio::task<> serve() {
  auto listener = corio::tcp_listener::bind(*corio::net::socket_address::parse("127.0.0.1:0"));
  if (!listener) co_return;
  while (auto peer = co_await listener->accept()) corio::spawn(echo(std::move(peer->first))).detach();
}

int main() { corio::block_on(serve()); }
CPP
}

service '#include <corio/corio.hpp>' > "$work/umbrella.cpp"
service $'#include <corio/runtime.hpp>\n#include <corio/tcp.hpp>' > "$work/narrow.cpp"

flags=(-std=c++20 -O2 -I"$root/include")
printf '%-40s %10s %10s\n' "headers ($cxx -O2)" "pp lines" "cpu s"
for name in umbrella narrow; do
  src="$work/$name.cpp"
  lines=$(timeout 120 "$cxx" "${flags[@]}" -E "$src" | wc -l)
  best=""
  for ((i = 0; i < runs; ++i)); do
    # CPU seconds (user + sys) of the compiler: steadier than wall time on a shared machine.
    TIMEFORMAT='%U %S'
    t=$( { time timeout 120 "$cxx" "${flags[@]}" -c "$src" -o "$work/$name.o" ; } 2>&1 |
         awk '{ print $1 + $2 }')
    if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  label="<corio/corio.hpp>"
  [[ $name == narrow ]] && label="<corio/tcp.hpp> + <corio/runtime.hpp>"
  printf '%-40s %10d %10.2f\n' "$label" "$lines" "$best"
done
