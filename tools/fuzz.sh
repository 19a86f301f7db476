#!/usr/bin/env bash
# Builds only the HTTP parser's libFuzzer target (clang 14, which the fuzzer needs, without the
# TSan the CI's other clang build uses) and runs it for its bounded 10 s; prints "N passed, N failed".
# usage: tools/fuzz.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-fuzz}
[ -d "$build/meson-private" ] || CXX=clang++-14 meson setup "$build" "$root" -Dwerror=true \
  -Dbench=disabled >/dev/null
meson compile -C "$build" tests/examples/http/http_parser_fuzz
status=0
meson test -C "$build" --no-rebuild --print-errorlogs --suite fuzz || status=$?
python3 "$root/tools/count_tests.py" "$build/meson-logs/testlog.json"
exit $status
