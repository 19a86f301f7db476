#!/usr/bin/env bash
# Builds corio in release mode and runs its showcase: the seed examples in callback and co_await
# style, then the echo services driven by a small client. Installs missing packages first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/install-deps.sh"
build=$root/build-release
[ -d "$build/meson-private" ] || meson setup "$build" "$root" --buildtype=release -Dtests=disabled
meson compile -C "$build"

run() {
  echo "\$ $*"
  "$@"
  echo
}

for name in hello_callbacks counter_callbacks hello counter; do
  if [ -x "$build/examples/$name" ]; then run "$build/examples/$name"; fi
done
for name in udp_timer_callbacks udp_timer; do
  if [ -x "$build/examples/$name" ]; then run "$build/examples/$name" --interval-ms 50; fi
done
for name in echo_server echo_server_callbacks udp_echo; do
  if [ -x "$build/examples/$name" ]; then python3 "$root/tools/echo_demo.py" "$build/examples/$name"; fi
done
exit 0
