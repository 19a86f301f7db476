#!/usr/bin/env bash
# Builds the tokio peer offline from Debian's vendored crates, if they are there:
#   bench/peers/tokio/build.sh TARGET_DIR   -> prints TARGET_DIR/release on success
# Exit 3 with a one-line reason when cargo or the vendored tokio is missing (the bench then
# skips tokio); any other failure is a real build error. Never part of meson or the tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target=${1:?usage: build.sh TARGET_DIR}
registry=/usr/share/cargo/registry
if ! command -v cargo >/dev/null; then
  echo "tokio peer skipped: cargo not found (apt-get install cargo librust-tokio-dev)" >&2
  exit 3
fi
if ! compgen -G "$registry/tokio-1.*" >/dev/null; then
  echo "tokio peer skipped: no vendored tokio in $registry (apt-get install librust-tokio-dev)" >&2
  exit 3
fi
# .cargo/config.toml here points crates-io at the vendored registry and forbids the network.
cd "$here"
# The lock file is not kept: the vendored registry holds one version of each crate, so
# resolution is fixed anyway, and a lock written by a newer cargo (rustup's) is unreadable to
# Debian's.
rm -f Cargo.lock
cargo build --release --quiet --target-dir "$target" >&2
echo "$target/release"
