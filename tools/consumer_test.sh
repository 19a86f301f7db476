#!/usr/bin/env bash
# Uses corio the three ways another project would, with tests/consumer/ as that project, for
# each library kind (static, shared, both):
#   subproject  corio in the consumer's subprojects/ (a symlink to this checkout): builds,
#               corio's warning flags and default_options stay out of the consumer, runs.
#   install     `meson install` of the library alone into a temporary prefix: only the public
#               headers, a right corio.pc, and (shared) a versioned soname exporting only corio::.
#   pkgconfig   the consumer against that prefix: through Meson with fallback forbidden, and
#               with `pkg-config --cflags --libs corio` on a plain compiler command line.
# Every check is one line of a testlog.json (meson's format), so tools/count_tests.py counts
# them with the other suites. Exits non-zero if any check failed. Temporary dirs are removed.
# usage: tools/consumer_test.sh [TESTLOG]     (default: build-ci/consumer/testlog.json)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
testlog=${1:-$root/build-ci/consumer/testlog.json}
"$root/tools/install-deps.sh" || exit 1
mkdir -p "$(dirname "$testlog")"
: >"$testlog"

work=$(mktemp -d "${TMPDIR:-/tmp}/corio-consumer.XXXXXX")
finished=false
cleanup() {
  # A run cut short still counts as a failure in the testlog.
  $finished || echo '{"name": "consumer_test.sh", "result": "ERROR", "duration": 0}' >>"$testlog"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

cxx=${CXX:-c++}
build_limit=600  # seconds for one configure or build
run_limit=30     # seconds for one run of the consumer
failed=0

# check NAME FUNCTION ARGS...: runs one check, output in $work/NAME.log (shown on failure).
check() {
  local name=$1
  shift
  local log=$work/${name//\//_}.log started=$SECONDS result=OK
  ("$@") >"$log" 2>&1 || result=FAIL  # a subshell: checks may cd and export freely
  printf '{"name": "%s", "result": "%s", "duration": %d}\n' \
    "$name" "$result" $((SECONDS - started)) >>"$testlog"
  echo "$result $name ($((SECONDS - started)) s)"
  if [ $result != OK ]; then
    failed=$((failed + 1))
    sed 's/^/    /' "$log" | tail -n 40
  fi
  [ $result = OK ]
}

# Fails when a build printed a compiler or linker warning.
no_warnings() {
  if grep -n 'warning:' "$1"; then
    echo "the build above printed warnings"
    return 1
  fi
}

# The consumer's own compile command, from compile_commands.json.
consumer_flags() {
  python3 - "$1/compile_commands.json" <<'EOF'
import json, sys
for entry in json.load(open(sys.argv[1])):
    if entry["file"].endswith("consumer.cpp"):
        print(entry["command"])
EOF
}

# The kinds share one build directory, reconfigured: corio's layers are static libraries
# whatever the kind, so a new kind recompiles one file and relinks (this keeps CI time small).
configure() {
  local build=$1 kind=$2
  shift 2
  if [ -d "$build/meson-private" ]; then
    timeout $build_limit meson configure "$build" -Ddefault_library="$kind" "$@"
  else
    timeout $build_limit meson setup "$build" "$@" -Ddefault_library="$kind"  # "$@": source first
  fi
}

subproject() {
  local kind=$1
  local src=$work/sub/src build=$work/sub/build
  if [ ! -d "$src" ]; then
    mkdir -p "$src" && cp -r "$root/tests/consumer/." "$src/" || return 1
    mkdir -p "$src/subprojects" && ln -s "$root" "$src/subprojects/corio" || return 1
  fi
  # corio itself with -Werror: it must build warning-free inside a parent, and must not pass
  # -Werror (or its warning_level 3) on to the parent.
  if [ -d "$build/meson-private" ]; then
    # Meson 1.0.1 keeps a configured subproject's default_library unless it is named.
    configure "$build" "$kind" -Dcorio:default_library="$kind" || return 1
  else
    configure "$build" "$kind" "$src" --force-fallback-for=corio -Dexpect_corio=subproject \
      -Dcorio:werror=true || return 1
  fi
  timeout $build_limit meson compile -C "$build" >"$build/compile.log" 2>&1
  local rc=$?
  cat "$build/compile.log"
  [ $rc -eq 0 ] && no_warnings "$build/compile.log" || return 1
  # The kind reached the subproject (a reconfigured build dir keeps the old kind's files).
  local types
  types=$(meson introspect "$build" --targets | python3 -c 'import json, sys
print(" ".join(sorted(t["type"] for t in json.load(sys.stdin) if t["name"] == "corio")))')
  echo "corio built as: $types"
  case $kind in
    static) [ "$types" = "static library" ] ;;
    shared) [ "$types" = "shared library" ] ;;
    both) [ "$types" = "shared library static library" ] ;;
  esac || { echo "expected a $kind corio"; return 1; }
  local flags
  flags=$(consumer_flags "$build")
  echo "consumer compiles with: $flags"
  if grep -qE -- ' -(Werror|Wextra|Wpedantic)( |$)' <<<"$flags"; then
    echo "corio's warning flags leaked into the parent"
    return 1
  fi
  grep -q -- '-Werror' "$build/compile_commands.json" ||
    { echo "corio built without -Werror"; return 1; }
  timeout $run_limit "$build/consumer"
}

install_corio() {
  local kind=$1
  local build=$work/lib prefix=$work/prefix-$kind
  if [ -d "$build/meson-private" ]; then
    configure "$build" "$kind" -Dprefix="$prefix" || return 1
  else
    configure "$build" "$kind" "$root" --prefix="$prefix" --libdir=lib -Dwerror=true \
      -Dtests=disabled -Dexamples=disabled -Dbench=disabled || return 1
  fi
  timeout $build_limit meson compile -C "$build" >"$build/compile.log" 2>&1
  local rc=$?
  cat "$build/compile.log"
  [ $rc -eq 0 ] && no_warnings "$build/compile.log" || return 1
  meson install -C "$build" --quiet
}

# Exactly the public headers (include/corio/**) and the library; nothing from lib/.
installed_files() {
  local kind=$1
  local prefix=$work/prefix-$kind
  [ -d "$prefix" ] || { echo "nothing installed"; return 1; }
  local want got
  want=$( (cd "$root" && find include/corio -type f -name '*.hpp'; echo lib/pkgconfig/corio.pc
           case $kind in
             static) echo lib/libcorio.a ;;
             shared) printf '%s\n' lib/libcorio.so lib/libcorio.so.0 lib/libcorio.so.0.X.Y ;;
             both) printf '%s\n' lib/libcorio.a lib/libcorio.so lib/libcorio.so.0 \
                                lib/libcorio.so.0.X.Y ;;
           esac) | sort)
  # The shared library's full name carries the version: compare it as 0.X.Y.
  got=$(cd "$prefix" && find . \( -type f -o -type l \) | sed 's|^\./||' |
        sed -E 's|^lib/libcorio\.so\.0\.[0-9]+\.[0-9]+$|lib/libcorio.so.0.X.Y|' | sort)
  diff <(echo "$want") <(echo "$got") || { echo "(< expected, > installed)"; return 1; }
}

# Whether the installed library calls into liburing (the io_uring backend was linked).
links_liburing() {
  # Output captured first: grep -q closing the pipe early fails the pipeline (pipefail).
  local lib=$1/lib out
  if [ -e "$lib/libcorio.so" ]; then
    out=$(readelf -d "$lib/libcorio.so") && grep -q 'NEEDED.*liburing' <<<"$out"
  else
    out=$(nm "$lib/libcorio.a" 2>/dev/null) && grep -qE ' U io_uring_' <<<"$out"
  fi
}

pc_file() {
  local kind=$1
  local prefix=$work/prefix-$kind pc=$work/prefix-$kind/lib/pkgconfig/corio.pc
  cat "$pc" || return 1
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  local version cflags libs static_libs
  version=$(meson introspect "$work/lib" --projectinfo |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
  [ "$(pkg-config --modversion corio)" = "$version" ] ||
    { echo "Version is not $version"; return 1; }
  cflags=$(pkg-config --cflags corio) && libs=$(pkg-config --libs corio) &&
    static_libs=$(pkg-config --static --libs corio) || return 1
  echo "cflags: $cflags"; echo "libs: $libs"; echo "static libs: $static_libs"
  if grep -qE -- '(^| )-(W|std=|O|D)' <<<"$cflags"; then
    echo "Cflags carries build flags"
    return 1
  fi
  grep -q -- "-I$prefix/include" <<<"$cflags" || { echo "Cflags lacks the include dir"; return 1; }
  grep -q -- '-pthread' <<<"$static_libs" || { echo "threads are missing"; return 1; }
  if links_liburing "$prefix"; then
    echo "the library links liburing"
    grep -qE '^Requires(\.private)?:.*liburing' "$pc" || { echo "liburing not required"; return 1; }
    grep -q -- '-luring' <<<"$static_libs" || { echo "static link lacks -luring"; return 1; }
    if [ "$kind" != static ] && grep -q -- '-luring' <<<"$libs"; then
      echo "a shared link should not name liburing (it is Requires.private)"
      return 1
    fi
  elif grep -q liburing "$pc"; then
    echo "liburing is required but the library does not use it"
    return 1
  fi
}

# Versioned soname; the dynamic symbol table holds corio's namespace and nothing else.
symbols() {
  local lib=$work/prefix-$1/lib dynamic
  dynamic=$(readelf -d "$lib/libcorio.so") || return 1
  grep SONAME <<<"$dynamic"
  grep -q 'SONAME.*\[libcorio\.so\.0\]' <<<"$dynamic" || return 1
  [ "$(readlink "$lib/libcorio.so")" = libcorio.so.0 ] || { echo "libcorio.so link"; return 1; }
  readlink "$lib/libcorio.so.0" | grep -qE '^libcorio\.so\.0\.[0-9]+\.[0-9]+$' ||
    { echo "libcorio.so.0 link"; return 1; }
  local exported stray
  exported=$(nm -D --defined-only "$lib/libcorio.so" | c++filt | cut -d' ' -f3-)
  echo "$(wc -l <<<"$exported") symbols exported"
  local kinds='typeinfo|typeinfo name|vtable|VTT|guard variable|TLS (init|wrapper) function'
  stray=$(grep -vE "^(($kinds) for |(non-)?virtual thunk to )?corio::" <<<"$exported")
  if [ -n "$stray" ]; then
    echo "exported outside namespace corio:"
    echo "$stray" | head -n 30
    return 1
  fi
  # The seams that public templates call from the user's code.
  local seam
  for seam in 'corio::detail::frame_allocate(' 'corio::detail::schedule(' \
              'corio::detail::loop_core::create(' 'vtable for corio::detail::io_operation'; do
    grep -qF "$seam" <<<"$exported" || { echo "not exported: $seam"; return 1; }
  done
}

pkgconfig_meson() {
  local kind=$1
  local src=$work/pc-$kind/src build=$work/pc-$kind/build
  mkdir -p "$src" && cp -r "$root/tests/consumer/." "$src/" || return 1
  PKG_CONFIG_PATH=$work/prefix-$kind/lib/pkgconfig timeout $build_limit meson setup "$build" \
    "$src" --wrap-mode=nofallback -Dexpect_corio=pkgconfig || return 1
  timeout $build_limit meson compile -C "$build" >"$build/compile.log" 2>&1
  local rc=$?
  cat "$build/compile.log"
  [ $rc -eq 0 ] && no_warnings "$build/compile.log" || return 1
  LD_LIBRARY_PATH=$work/prefix-$kind/lib timeout $run_limit "$build/consumer"
}

# The plain command line, with strict warnings: corio's headers must be clean under them.
pkgconfig_cmdline() {
  local kind=$1 compiler=$2 prefix=$work/prefix-$1 exe=$work/cmdline-$1-${2//[^a-z0-9]/_}
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  local static=
  [ "$kind" = static ] && static=--static
  local flags
  flags=$(pkg-config $static --cflags --libs corio) || return 1
  echo "$compiler -std=c++20 -Wall -Wextra -Wpedantic -Werror consumer.cpp $flags"
  # shellcheck disable=SC2086  # pkg-config output is a list of words
  timeout $build_limit "$compiler" -std=c++20 -O1 -Wall -Wextra -Wpedantic -Werror \
    "$root/tests/consumer/consumer.cpp" -o "$exe" $flags -Wl,-rpath,"$prefix/lib" || return 1
  timeout $run_limit "$exe"
}

started=$SECONDS
for kind in static shared both; do
  check "consumer/$kind/subproject" subproject "$kind"
  if check "consumer/$kind/install" install_corio "$kind"; then
    check "consumer/$kind/installed_files" installed_files "$kind"
    check "consumer/$kind/pc_file" pc_file "$kind"
    [ "$kind" = static ] || check "consumer/$kind/symbols" symbols "$kind"
    check "consumer/$kind/pkgconfig_meson" pkgconfig_meson "$kind"
    check "consumer/$kind/pkgconfig_cmdline" pkgconfig_cmdline "$kind" "$cxx"
  fi
done
# The other compiler once, on the command-line path (its headers must be clean there too).
if command -v clang++-14 >/dev/null && [ -d "$work/prefix-shared" ]; then
  check "consumer/shared/pkgconfig_cmdline_clang" pkgconfig_cmdline shared clang++-14
fi
finished=true
echo "consumer checks: $failed failed, $((SECONDS - started)) s"
[ $failed -eq 0 ]
