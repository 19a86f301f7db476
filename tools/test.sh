#!/usr/bin/env bash
# Builds corio and runs every test; the last line is "N passed, N failed, N skipped".
# usage: tools/test.sh [BUILD_DIR [meson setup options...]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/install-deps.sh"
build=${1:-$root/build}
shift || true
if [ -d "$build/meson-private" ]; then
  [ $# -eq 0 ] || meson configure "$build" "$@"
else
  meson setup "$build" "$root" "$@"
fi
meson compile -C "$build"
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?
python3 "$root/tools/count_tests.py" --cases "$build/meson-logs/testlog.json"
exit $status
