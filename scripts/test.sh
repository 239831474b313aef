#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir=${BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 600 "$@"
