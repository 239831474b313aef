# shellcheck shell=bash
# What scripts/fuzz.sh (the gate) and scripts/fuzz-explore.sh (exploration) share: the targets,
# the clang-14 build in build-fuzz/, the sanitizer settings, running targets FUZZ_JOBS at a time,
# and the report of what failed. Source it from the repository root; it defines variables and
# functions only.

fuzz_all_targets=(fuzz_pop3_server fuzz_imap_response_parser fuzz_dot_stuffer fuzz_http_response_parser
                  fuzz_jmap_protocol fuzz_config fuzz_token_endpoint fuzz_redis_reply_reader)
fuzz_build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
fuzz_jobs=${FUZZ_JOBS:-2}

# fuzz_build TARGET...: installs what is missing and builds the targets (ccache when there is one).
fuzz_build() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  scripts/install-deps.sh
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$fuzz_build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPOPGATE_FUZZ=ON -DPOPGATE_BUILD_TESTS=OFF -DPOPGATE_WERROR=ON "${launcher[@]}" >/dev/null
  cmake --build "$fuzz_build_dir" -j "$(nproc)" --target "$@"
  export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:symbolize=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
  fi
}

# fuzz_check_targets TARGET...: fails on a name that is not a target.
fuzz_check_targets() {
  local target known
  for target in "$@"; do
    known=0
    for t in "${fuzz_all_targets[@]}"; do [ "$t" = "$target" ] && known=1; done
    if [ "$known" -eq 0 ]; then
      echo "fuzz: unknown target $target (targets: ${fuzz_all_targets[*]})" >&2
      return 1
    fi
  done
}

fuzz_binary() { echo "$fuzz_build_dir/tests/fuzz/$1"; }

# libFuzzer flags every run shares, one a line: the target's dictionary, what counts as a failure,
# and where reproducers go.
fuzz_common_flags() {
  local target=$1 run=$2
  [ -f "tests/fuzz/dict/$target.dict" ] && echo "-dict=tests/fuzz/dict/$target.dict"
  printf '%s\n' -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 "-artifact_prefix=$run/"
}

# fuzz_run_all RUNS_DIR FUNCTION TARGET...: FUNCTION TARGET for each target, FUZZ_JOBS at a time;
# its exit status is the verdict and its last line of output (kept in RUNS_DIR/TARGET.summary) the
# summary. Sets fuzz_failed to the targets that failed.
fuzz_run_all() {
  local runs_dir=$1 run_one=$2 target
  shift 2
  local -A pids=()
  fuzz_failed=()
  for target in "$@"; do
    [ ${#pids[@]} -ge "$fuzz_jobs" ] && _fuzz_finish_one
    "$run_one" "$target" >"$runs_dir/$target.summary" 2>&1 &
    pids[$!]=$target
  done
  while [ ${#pids[@]} -gt 0 ]; do _fuzz_finish_one; done
}

_fuzz_finish_one() {  # waits for any run and records its verdict (fuzz_run_all's locals)
  local pid status=0
  wait -n -p pid || status=$?
  local target=${pids[$pid]}
  unset "pids[$pid]"
  local summary
  summary=$(tail -n 1 "$runs_dir/$target.summary" 2>/dev/null || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target ok ($summary)"
  else
    echo "fuzz: $target FAILED (${summary:-exit $status})"
    fuzz_failed+=("$target")
  fi
}

# fuzz_final_stats LOG: "N runs, cov: C ft: F corp: U/S", from libFuzzer's last lines.
fuzz_final_stats() {
  local log=$1 units done_line
  units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
    sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+\/[0-9]+[a-zA-Z]*).*/\1/')
  echo "${units:-?} runs, ${done_line:-no final stats}"
}

# fuzz_report TARGET RUN_DIR: the end of a failed run's logs, and each reproducer (libFuzzer's,
# and the inputs RUN_DIR/reproducers names) with the command that replays it.
fuzz_report() {
  local target=$1 run=$2 log reproducer
  for log in "$run"/*.log; do
    [ -e "$log" ] || continue
    echo
    echo "==== $target: last lines of $log"
    grep -v -e 'NEW_FUNC' -e '^#[0-9]' "$log" | tail -n 40 || true
  done
  local reproducers=("$run"/{crash,leak,timeout,oom,slow-unit}-*)
  [ -f "$run/reproducers" ] && mapfile -t -O ${#reproducers[@]} reproducers <"$run/reproducers"
  for reproducer in "${reproducers[@]}"; do
    [ -e "$reproducer" ] || continue
    echo "reproducer: $reproducer"
    echo "replay:     $(fuzz_binary "$target") $reproducer"
  done
}
