#!/usr/bin/env bash
# Soak test (not part of scripts/test.sh): a private Dovecot, popgate in front of it through a
# fault-injecting relay, mixed POP3 load plus faults (dropped and stalled upstream connections,
# Dovecot restarts) for N minutes; then a report of sessions served, errors by kind, popgate's RSS
# and descriptor count at start and end, and a check of every mailbox over IMAP.
#   scripts/soak.sh [--minutes N] [--clients C] [--fault-interval SECONDS]
# Needs root (Dovecot's mail processes run as nobody), a build in ./build (or POPGATE_BINARY) and
# the packages of scripts/install-deps.sh. Exits non-zero if descriptors or memory did not come back
# near the start, a message was lost, or popgate died.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
popgate_bin=${POPGATE_BINARY:-$repo/build/gateway/popgate}
minutes=5
clients=16
fault_interval=20

die() {
  echo "soak: $*" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=${2:?--minutes needs a value}; shift 2 ;;
    --clients) clients=${2:?--clients needs a value}; shift 2 ;;
    --fault-interval) fault_interval=${2:?--fault-interval needs a value}; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -x "$popgate_bin" ] || die "no popgate binary at $popgate_bin; build first (scripts/build.sh)"
[ "$(id -u)" -eq 0 ] || die "run as root: Dovecot's mail processes must switch to the user nobody"
PATH=$PATH:/usr/sbin
for tool in dovecot python3; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install-deps.sh"
done

# shellcheck source=scripts/lib/dovecot-sandbox.sh
. "$repo/scripts/lib/dovecot-sandbox.sh"

work=$(mktemp -d /tmp/popgate-soak.XXXXXX)
cleanup() {
  local status=$?
  # The driver restarts Dovecot as a fault: the running master's PID is in this file.
  if [ -s "$work/dovecot.pid" ]; then
    sandbox_stop_pid "$(cat "$work/dovecot.pid")"
  fi
  dovecot_sandbox_stop
  if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "soak: kept $work for its logs" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

password=soak-password
users=()
dovecot_sandbox_init "$work"
for i in $(seq 1 "$clients"); do
  users+=("soak$i")
  dovecot_sandbox_add_user "soak$i" "$password"
done
dovecot_sandbox_start
echo "$DOVECOT_PID" >"$work/dovecot.pid"
echo "soak: dovecot (pid $DOVECOT_PID) on 127.0.0.1:$DOVECOT_IMAP_PORT, ${#users[@]} users, work dir $work"

python3 "$repo/tests/soak/soak.py" \
  --minutes "$minutes" --clients "$clients" --fault-interval "$fault_interval" \
  --popgate "$popgate_bin" --imap-port "$DOVECOT_IMAP_PORT" \
  --dovecot-pid "$DOVECOT_PID" --dovecot-config "$DOVECOT_SANDBOX_DIR/dovecot.conf" \
  --dovecot-pid-file "$work/dovecot.pid" --maildir-root "$DOVECOT_SANDBOX_DIR/home" \
  --users "$(IFS=,; echo "${users[*]}")" --password "$password" --work "$work"
