#!/usr/bin/env bash
# Demo: a real Dovecot IMAP server on loopback, popgate in front of it, and every message fetched
# through popgate with curl. Run from the repository root after building into ./build:
#   cmake -S . -B build -G Ninja && cmake --build build && sudo scripts/demo.sh
# Needs root (Dovecot's mail processes run as nobody) and the packages of scripts/install-deps.sh.
# Set POPGATE_BINARY to use another build.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
popgate_bin=${POPGATE_BINARY:-$repo/build/gateway/popgate}

die() {
  echo "demo: $*" >&2
  exit 1
}
[ -x "$popgate_bin" ] || die "no popgate binary at $popgate_bin; build first: cmake -S . -B build -G Ninja && cmake --build build"
[ "$(id -u)" -eq 0 ] || die "run as root: Dovecot's mail processes must switch to the user nobody"
for tool in dovecot curl python3; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin command -v "$tool" >/dev/null ||
    die "$tool is missing; run scripts/install-deps.sh"
done
PATH=$PATH:/usr/sbin

# shellcheck source=scripts/lib/dovecot-sandbox.sh
. "$repo/scripts/lib/dovecot-sandbox.sh"

work=$(mktemp -d /tmp/popgate-demo.XXXXXX)
popgate_pid=""
cleanup() {
  local status=$?
  if [ -n "$popgate_pid" ]; then
    sandbox_stop_pid "$popgate_pid"
    echo "stopped popgate (pid $popgate_pid)"
  fi
  if [ -n "$DOVECOT_PID" ]; then
    local pid=$DOVECOT_PID
    dovecot_sandbox_stop
    echo "stopped dovecot (pid $pid)"
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

user=demo
password=demo-password
step() { printf '\n== %s\n' "$*"; }

step "Starting a private Dovecot IMAP server in $work"
dovecot_sandbox_init "$work"
dovecot_sandbox_add_user "$user" "$password"
mkdir "$work/samples"
printf '%s\r\n' \
  "From: Popgate Demo <demo@example.test>" "To: demo@example.test" "Subject: Welcome to popgate" \
  "Date: Mon, 01 Jan 2024 09:00:00 +0000" "" \
  "popgate serves this IMAP mailbox to POP3 clients." >"$work/samples/1-welcome.eml"
printf '%s\r\n' \
  "From: Popgate Demo <demo@example.test>" "To: demo@example.test" "Subject: Lines that start with a dot" \
  "Date: Mon, 01 Jan 2024 09:01:00 +0000" "" \
  "POP3 ends a message with a line holding a single dot, so popgate byte-stuffs:" \
  ".this line starts with a dot" "." ".." "and curl removes the stuffing again." >"$work/samples/2-dots.eml"
printf '%s\r\n' \
  "From: Popgate Demo <demo@example.test>" "To: demo@example.test" \
  "Subject: Grüße aus Köln (8-bit UTF-8)" "Date: Mon, 01 Jan 2024 09:02:00 +0000" \
  "Content-Type: text/plain; charset=utf-8" "Content-Transfer-Encoding: 8bit" "" \
  "Grüße aus Köln — 8-bit text passes through unchanged." >"$work/samples/3-utf8.eml"
{
  printf '%s\r\n' "From: Popgate Demo <demo@example.test>" "To: demo@example.test" \
    "Subject: A larger message (about 200 KiB)" "Date: Mon, 01 Jan 2024 09:03:00 +0000" ""
  for i in $(seq 1 3000); do printf 'line %04d of a larger message, streamed by popgate without buffering\r\n' "$i"; done
} >"$work/samples/4-large.eml"
for sample in "$work"/samples/*.eml; do
  dovecot_sandbox_deliver "$user" "$sample"
done
dovecot_sandbox_start
echo "dovecot (pid $DOVECOT_PID) serves IMAP on 127.0.0.1:$DOVECOT_IMAP_PORT; user '$user' has 4 messages"

step "Starting popgate in front of it"
for attempt in 1 2 3; do
  pop3_port=$(sandbox_free_port)
  admin_port=$(sandbox_free_port)
  "$popgate_bin" --listen "127.0.0.1:$pop3_port" --upstream "imap://127.0.0.1:$DOVECOT_IMAP_PORT" \
    --admin "127.0.0.1:$admin_port" --log-level info 2>"$work/popgate.log" &
  popgate_pid=$!
  if sandbox_wait_for_port "$pop3_port" 10 "$popgate_pid"; then
    break
  fi
  sandbox_stop_pid "$popgate_pid"
  popgate_pid=""
  [ "$attempt" -eq 3 ] && { cat "$work/popgate.log" >&2; die "popgate did not start"; }
done
echo "$popgate_bin --listen 127.0.0.1:$pop3_port --upstream imap://127.0.0.1:$DOVECOT_IMAP_PORT"
echo "popgate (pid $popgate_pid) serves POP3 on 127.0.0.1:$pop3_port"

url="pop3://$user:$password@127.0.0.1:$pop3_port"
curl_pop3() { curl --silent --show-error --max-time 30 "$@"; }

step "STAT, LIST and UIDL through popgate (curl $url/)"
stat=$(curl_pop3 --verbose --head --request STAT "$url/" 2>&1 | tr -d '\r' | grep -a '^< +OK' | tail -1 | cut -c3-)
echo "STAT -> $stat"
curl_pop3 "$url/" >"$work/list"
echo "LIST ->"
tr -d '\r' <"$work/list" | sed 's/^/  /'
echo "UIDL ->"
curl_pop3 --request UIDL "$url/" | tr -d '\r' | sed 's/^/  /'

step "Fetching every message through popgate"
fetched=0
while read -r number size; do
  curl_pop3 "$url/$number" >"$work/message-$number"
  subject=$(tr -d '\r' <"$work/message-$number" | sed -n 's/^Subject: //p' | head -1)
  bytes=$(wc -c <"$work/message-$number")
  printf '  message %s: LIST says %6s octets, curl wrote %6s bytes; Subject: %s\n' "$number" "$size" "$bytes" "$subject"
  fetched=$((fetched + 1))
done < <(tr -d '\r' <"$work/list")

step "Message 2 as curl received it (the dot-stuffing is undone)"
tr -d '\r' <"$work/message-2" | sed 's/^/  | /'

step "popgate's metrics (http://127.0.0.1:$admin_port/metrics), an excerpt"
curl -s "http://127.0.0.1:$admin_port/metrics" |
  grep -E '^popgate_(sessions_total|messages_retrieved_total|commands_total\{command="RETR")' | sed 's/^/  /' || true

step "popgate's log"
sed 's/^/  /' "$work/popgate.log"

expected=$(find "$work/samples" -name '*.eml' | wc -l)
echo
if [ "$fetched" -ne "$expected" ]; then
  die "fetched $fetched messages through popgate, expected $expected"
fi
echo "fetched $fetched messages through popgate"
