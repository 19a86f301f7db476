#!/usr/bin/env bash
# Installs the Debian 12 packages corio builds and tests with, only those that are missing.
# Extra package names may be passed as arguments (the bench adds its peers).
set -euo pipefail
# The second line: the optional features (c-ares for host names, OpenSSL 3 for TLS and the
# openssl tool its interop tests talk to). The last line: the real clients the services are
# tested with (tools/real_clients.sh).
packages=(meson ninja-build g++ clang-14 pkg-config python3 liburing-dev libfmt-dev libcli11-dev
          libc-ares-dev libssl-dev openssl
          libgtest-dev libgmock-dev libbenchmark-dev
          curl wrk apache2-utils nghttp2-client redis-tools netcat-openbsd "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
