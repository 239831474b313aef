#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang-14 into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 60), FUZZ_JOBS (default 2) at a time, on a fresh copy of its seed corpus
# (tests/fuzz/corpus/<target>/ is never written to). Fails on any crash, leak, timeout or
# out-of-memory and prints the reproducer and the command that replays it.
#
#   scripts/fuzz.sh                                      every target
#   FUZZ_SECONDS=600 scripts/fuzz.sh fuzz_pop3_server    one target, longer
#
# Each run's log, grown corpus and reproducers stay in build-fuzz/fuzz-runs/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(fuzz_pop3_server fuzz_imap_response_parser fuzz_dot_stuffer fuzz_http_response_parser
             fuzz_jmap_protocol fuzz_config fuzz_token_endpoint)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}

scripts/install-deps.sh
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPOPGATE_FUZZ=ON -DPOPGATE_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

runs="$(pwd)/$build_dir/fuzz-runs"
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ] && export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

# One target: a fresh corpus copy, its dictionary, libFuzzer's limits; the exit status is its verdict.
run_target() {
  local target=$1 run="$runs/$1"
  rm -rf "$run"
  mkdir -p "$run/corpus"
  cp tests/fuzz/corpus/"$target"/* "$run/corpus/"
  local dict=()
  [ -f tests/fuzz/dict/"$target".dict ] && dict=(-dict="tests/fuzz/dict/$target.dict")
  "$build_dir/tests/fuzz/$target" "$run/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$run/" >"$run/log" 2>&1
}

declare -A pids=()
failed=()
finish_one() {  # waits for any run and records its verdict
  local pid status=0
  wait -n -p pid || status=$?
  local target=${pids[$pid]}
  unset "pids[$pid]"
  local runs_done
  runs_done=$(sed -n 's/^stat::number_of_executed_units: *//p' "$runs/$target/log" 2>/dev/null || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target ok (${runs_done:-?} runs in ${seconds} s)"
  else
    echo "fuzz: $target FAILED (exit $status)"
    failed+=("$target")
  fi
}
for target in "${targets[@]}"; do
  [ ${#pids[@]} -ge "$jobs" ] && finish_one
  run_target "$target" &
  pids[$!]=$target
done
while [ ${#pids[@]} -gt 0 ]; do finish_one; done

[ ${#failed[@]} -eq 0 ] && exit 0
for target in "${failed[@]}"; do
  echo
  echo "==== $target: last lines of $runs/$target/log"
  grep -v -e 'NEW_FUNC' -e '^#[0-9]' "$runs/$target/log" | tail -n 40 || true
  for reproducer in "$runs/$target"/{crash,leak,timeout,oom,slow-unit}-*; do
    [ -e "$reproducer" ] || continue
    echo "reproducer: $reproducer"
    echo "replay:     $build_dir/tests/fuzz/$target $reproducer"
  done
done
exit 1
