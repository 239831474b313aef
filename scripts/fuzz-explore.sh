#!/usr/bin/env bash
# Fuzzing to find new bugs, apart from the gate (scripts/fuzz.sh): each target runs for
# FUZZ_SECONDS (default 300) from a random seed (FUZZ_SEED to choose one), FUZZ_JOBS (default 2)
# at a time, on a fresh copy of its seed corpus and past reproducers. What it finds is reported
# with the command that replays it and how to keep it as a regression input for the fix; the exit
# status is 1 when anything was found. Nothing here is part of the README's test command.
#
#   scripts/fuzz-explore.sh                                      every target
#   FUZZ_SECONDS=3600 scripts/fuzz-explore.sh fuzz_jmap_protocol one target, an hour
#
# Each run's log, grown corpus and reproducers stay in build-fuzz/fuzz-explore/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/fuzz.sh

seconds=${FUZZ_SECONDS:-300}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${fuzz_all_targets[@]}")
fuzz_check_targets "${targets[@]}"
fuzz_build "${targets[@]}"
fuzz_runs="$(pwd)/$fuzz_build_dir/fuzz-explore"
mkdir -p "$fuzz_runs"

# shellcheck disable=SC2317  # called through fuzz_run_all
explore_target() {
  local target=$1 run="$fuzz_runs/$1" seed
  seed=${FUZZ_SEED:-$(($(od -An -N4 -tu4 /dev/urandom) % 2147483646 + 1))}
  rm -rf "$run"
  mkdir -p "$run/corpus"
  cp tests/fuzz/corpus/"$target"/* "$run/corpus/"
  if [ -d "tests/fuzz/regressions/$target" ]; then
    for file in tests/fuzz/regressions/"$target"/*; do
      [ -e "$file" ] && cp "$file" "$run/corpus/regression-$(basename "$file")"
    done
  fi
  local flags
  mapfile -t flags < <(fuzz_common_flags "$target" "$run")
  echo "$seed" >"$run/seed"
  local status=0
  "$(fuzz_binary "$target")" "$run/corpus" -seed="$seed" -max_total_time="$seconds" -print_final_stats=1 \
    "${flags[@]}" >"$run/fuzz.log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "seed $seed: exit $status"
    return "$status"
  fi
  echo "seed $seed, $seconds s: $(fuzz_final_stats "$run/fuzz.log")"
}

fuzz_run_all "$fuzz_runs" explore_target "${targets[@]}"
if [ ${#fuzz_failed[@]} -eq 0 ]; then
  echo "fuzz-explore: nothing found"
  exit 0
fi
for target in "${fuzz_failed[@]}"; do
  run="$fuzz_runs/$target"
  fuzz_report "$target" "$run"
  for reproducer in "$run"/{crash,leak,timeout,oom,slow-unit}-*; do
    [ -e "$reproducer" ] || continue
    echo
    echo "To fix it: keep the input as a regression, named for what it found, so that the gate"
    echo "(scripts/fuzz.sh, which replays every file there and seeds its runs with them) fails"
    echo "until the fix is in and never lets the bug back:"
    echo "    cp $reproducer tests/fuzz/regressions/$target/WHAT_IT_FOUND"
    echo "then fix the code, or the invariant if it asks more than the code promises, and check"
    echo "    scripts/fuzz.sh $target"
  done
done
exit 1
