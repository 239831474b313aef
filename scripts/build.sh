#!/usr/bin/env bash
# Installs what is missing, then configures and builds popgate into ./build (or $BUILD_DIR),
# warnings as errors (POPGATE_WERROR): the developers' and CI's build must stay warning-free.
# BUILD_TYPE picks the configuration (default RelWithDebInfo); ccache is used when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build_dir=${BUILD_DIR:-build}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DPOPGATE_WERROR=ON \
  "${launcher[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
