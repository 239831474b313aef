#!/usr/bin/env bash
# The fuzz gate: builds the libFuzzer targets of tests/fuzz with clang-14 into build-fuzz/ and,
# FUZZ_JOBS (default 2) at a time, gives each target the same work on every run of the same tree:
#   1. every past reproducer in tests/fuzz/regressions/<target>/ replayed as an input: each must pass;
#   2. one libFuzzer job from a fixed -seed for a fixed -runs count (no clock: a slower machine
#      takes longer, it does not test less or differently), starting from a fresh copy of the seed
#      corpus tests/fuzz/corpus/<target>/ plus those reproducers, read in sorted order.
# A crash, leak, timeout or broken invariant fails the gate and prints the reproducer and the
# command that replays it. Open-ended fuzzing from random seeds is scripts/fuzz-explore.sh.
#
#   scripts/fuzz.sh                     every target
#   scripts/fuzz.sh fuzz_pop3_server    one target
#
# Each run's logs, grown corpus and reproducers stay in build-fuzz/fuzz-runs/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/fuzz.sh

# The seed of every gate run. Changing it (or a run count) is a change of the gate: the new
# runs pass before it is committed.
gate_seed=1
# Runs per target: about 50 s of one core each at the exec/s measured on the 2-core development
# VM (CPU time: the runs take longer on a busy machine, never less work), so that on two idle cores
# the stage takes about as long as the 60 s runs, two at a time, it replaced.
declare -A gate_runs=(
  [fuzz_pop3_server]=400000
  [fuzz_imap_response_parser]=200000
  [fuzz_dot_stuffer]=650000
  [fuzz_http_response_parser]=75000
  [fuzz_jmap_protocol]=90000
  [fuzz_config]=350000
  [fuzz_token_endpoint]=550000
  [fuzz_redis_reply_reader]=150000
)

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${fuzz_all_targets[@]}")
fuzz_check_targets "${targets[@]}"
fuzz_build "${targets[@]}"

# Coverage depends on addresses in ways no flag turns off: std::string's aliasing checks take
# one branch or the other as the heap lays two buffers out, and the heap's layout follows every
# allocation before, a path's length included. So each run gets the same process image whatever
# the checkout and the caller's environment: no address space randomisation (setarch -R), a fixed
# environment (env -i), and arguments that are short paths relative to its own folder. (The fuzz
# build also leaves out UBSan's pointer-overflow check, whose address comparisons libFuzzer
# would turn into mutations: see CMakeLists.txt.)
fixed_image=(setarch "$(uname -m)" -R)
if ! "${fixed_image[@]}" true 2>/dev/null; then
  echo "fuzz: setarch -R is not allowed here: runs may differ from those on other machines" >&2
  fixed_image=()
fi
fixed_image+=(env -i PATH=/usr/bin:/bin "ASAN_OPTIONS=$ASAN_OPTIONS" "UBSAN_OPTIONS=$UBSAN_OPTIONS")
[ -n "${ASAN_SYMBOLIZER_PATH:-}" ] && fixed_image+=("ASAN_SYMBOLIZER_PATH=$ASAN_SYMBOLIZER_PATH")

mkdir -p "$fuzz_build_dir/fuzz-runs"
fuzz_runs=$(cd "$fuzz_build_dir/fuzz-runs" && pwd)

# One target, in its folder build-fuzz/fuzz-runs/<target>/: seeds/ (copies of the seed corpus
# and the past reproducers, listed in sorted order in seeds.list), corpus/ (what the run adds),
# logs and reproducers. Its exit status is the verdict and its last line the summary.
# shellcheck disable=SC2317  # called through fuzz_run_all
gate_target() {
  local target=$1 run="$fuzz_runs/$1" started=$SECONDS
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/seeds/corpus" "$run/seeds/regressions"
  cp tests/fuzz/corpus/"$target"/* "$run/seeds/corpus/"
  if [ -d "tests/fuzz/regressions/$target" ]; then
    find "tests/fuzz/regressions/$target" -maxdepth 1 -type f -exec cp {} "$run/seeds/regressions/" \;
  fi
  local flags=(-timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -artifact_prefix=./)
  if [ -f "tests/fuzz/dict/$target.dict" ]; then
    cp "tests/fuzz/dict/$target.dict" "$run/dict"
    flags+=(-dict=dict)
  fi
  local regressions=()
  mapfile -t regressions < <(cd "$run" && find seeds/regressions -type f | LC_ALL=C sort)
  (cd "$run" && find seeds -type f | LC_ALL=C sort | paste -sd, >seeds.list)
  local binary
  binary=$(realpath --relative-to="$run" "$(fuzz_binary "$target")")

  # 1. Past reproducers, each run once as an input; those that fail are named in reproducers.
  local regression failed=0
  for regression in "${regressions[@]}"; do
    if ! (cd "$run" && "${fixed_image[@]}" "$binary" "${flags[@]}" "$regression" >>regressions.log 2>&1); then
      echo "tests/fuzz/regressions/$target/$(basename "$regression")" >>"$run/reproducers"
      failed=$((failed + 1))
    fi
  done
  if [ "$failed" -gt 0 ]; then
    echo "$failed of ${#regressions[@]} past reproducers fail again"
    return 1
  fi
  # 2. The seeded run. -seed_inputs keeps the order of its list, where a corpus folder would be
  # read in the file system's order; -reload=0 keeps the run from rereading what it wrote.
  local status=0
  (cd "$run" && "${fixed_image[@]}" "$binary" corpus -seed_inputs=@seeds.list -seed="$gate_seed" \
    -runs="${gate_runs[$target]}" -reload=0 -print_final_stats=1 "${flags[@]}" >fuzz.log 2>&1) || status=$?
  if [ "$status" -ne 0 ]; then
    echo "seed $gate_seed, ${gate_runs[$target]} runs: exit $status"
    return "$status"
  fi
  echo "past reproducers: ${#regressions[@]} pass; seed $gate_seed: $(fuzz_final_stats "$run/fuzz.log");" \
    "$((SECONDS - started)) s"
}

started=$SECONDS
fuzz_run_all "$fuzz_runs" gate_target "${targets[@]}"
echo "fuzz: ${#targets[@]} targets in $((SECONDS - started)) s"
[ ${#fuzz_failed[@]} -eq 0 ] && exit 0
for target in "${fuzz_failed[@]}"; do fuzz_report "$target" "$fuzz_runs/$target"; done
echo
echo "The gate is deterministic: the same tree fails the same way on every run. Fix the code, or an"
echo "invariant that asks more than the code promises; keep each reproducer in"
echo "tests/fuzz/regressions/<target>/, named for what it found."
exit 1
