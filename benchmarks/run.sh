#!/usr/bin/env bash
# popgate vs Dovecot as a POP3-to-IMAP gateway, side by side, on loopback. Needs root and the
# packages of scripts/install-deps.sh; builds popgate and the load generator in build/ first.
#
#   benchmarks/run.sh [--quick] [--keep] [--json FILE] [--markdown FILE]
#
# --quick: under 2 minutes; default: the full run, under 10 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${POPGATE_BENCH_BUILD_DIR:-$root/build}
# popgate refuses POPGATE_* variables it does not know: keep this one away from it.
unset POPGATE_BENCH_BUILD_DIR
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
nice cmake --build "$build" -j2 --target popgate popgate_loadgen >/dev/null
# Debian's python3 (stdlib only).
exec /usr/bin/python3 "$root/benchmarks/lib/bench.py" \
  --popgate "$build/gateway/popgate" --loadgen "$build/benchmarks/popgate_loadgen" "$@"
