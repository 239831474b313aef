#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds (warnings as errors), builds the Release
# configuration that users and the container image ship, runs unit and integration tests, then
# the container image test (deploy_image), then the suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then the fuzz targets.
# POPGATE_CONTAINER=0 skips the image test (it builds the image: a few minutes).
# POPGATE_SANITIZERS=0 skips the sanitizer run (it adds a build and a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
# Read and dropped before any test runs: the integration tests' popgate processes inherit this
# environment, and popgate refuses unknown POPGATE_* variables.
run_fuzz=${POPGATE_FUZZ:-1}
run_sanitizers=${POPGATE_SANITIZERS:-1}
run_container=${POPGATE_CONTAINER:-1}
unset POPGATE_FUZZ POPGATE_SANITIZERS POPGATE_CONTAINER
scripts/build.sh
# The Release build (-O3) is the one users ship and GCC warns differently there: built, not tested.
BUILD_DIR=build-release BUILD_TYPE=Release scripts/build.sh -DPOPGATE_BUILD_TESTS=OFF
build_dir=${BUILD_DIR:-build}
(cd "$build_dir" && ctest --output-on-failure -j "$(nproc)" --timeout 600 -LE container "$@")

# The image test compiles popgate inside the image build and would starve the timing-sensitive
# tests beside it: it runs alone, after them (its own TIMEOUT, tests/CMakeLists.txt).
if [ "$run_container" != 0 ]; then
  (cd "$build_dir" && ctest --output-on-failure -L container "$@")
fi

if [ "$run_sanitizers" != 0 ]; then
  sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
  BUILD_DIR=build-asan BUILD_TYPE=Debug scripts/build.sh \
    -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_EXE_LINKER_FLAGS="$sanitize"
  # Every test, popgate processes included, with leak checks; deploy_* check the release
  # binary's libraries against the container image, which a sanitizer build cannot match, and
  # deploy_image (label container) builds the image itself, which needs no second run.
  (cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --output-on-failure -j "$(nproc)" --timeout 900 -E '^deploy_' "$@")
fi

# The fuzz gate (tests/fuzz): each libFuzzer target replays its past reproducers, then runs a fixed
# count of inputs from a fixed seed on a copy of its seed corpus, two targets at a time, so the same
# tree passes or fails the same way every time; any crash, leak, timeout or broken invariant fails.
# POPGATE_FUZZ=0 skips it (a clang build and a few minutes). Exploration: scripts/fuzz-explore.sh.
if [ "$run_fuzz" != 0 ]; then
  scripts/fuzz.sh
fi
