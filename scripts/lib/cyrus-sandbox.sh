# shellcheck shell=bash
# A private Cyrus IMAP 3.6 (IMAP + JMAP over HTTP) on loopback high ports in a directory of its own, for
# popgate's demo and benchmark scripts. Source this file; it defines functions only. Requires root (the
# master process switches to the user cyrus) and the packages of scripts/install-deps.sh (cyrus-common,
# cyrus-caldav, sasl2-bin, and imapd unpacked by scripts/lib/install-cyrus.sh), and python3.
#
#   cyrus_sandbox_init DIR             remember DIR (must exist; it and its parents must be searchable by
#                                      others, its path short: unix sockets live in it) and write the
#                                      SASL database with an admin user
#   cyrus_sandbox_add_user USER PASS   a SASL user; its INBOX is created at start (or now, if running)
#   cyrus_sandbox_deliver USER FILE    IMAP APPEND of FILE's exact bytes to USER's INBOX; before start the
#                                      message is queued and appended by cyrus_sandbox_start, in order
#   cyrus_sandbox_start                start `master` in the foreground, wait for both ports; sets
#                                      CYRUS_IMAP_PORT, CYRUS_HTTP_PORT, CYRUS_PID and
#                                      CYRUS_JMAP_SESSION_URL (http://127.0.0.1:PORT/.well-known/jmap)
#   cyrus_sandbox_stop                 stop it by PID (SIGTERM; master stops its children)
#
# Appended messages get increasing internal dates one second apart (JMAP receivedAt), so a JMAP
# Email/query sorted by receivedAt lists them in delivery order. Cyrus refuses a message with a bare LF
# ("Message contains bare newlines") or a NUL byte: write files with CRLF line endings. Every other
# byte is stored as given. Messages with identical bytes are one JMAP Email (the id derives from the
# SHA-1). Cyrus logs to syslog only; master's own output is in $CYRUS_SANDBOX_DIR/master.log.

_cyrus_sandbox_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/ports.sh
. "$_cyrus_sandbox_lib_dir/ports.sh"

CYRUS_SANDBOX_DIR=""
CYRUS_IMAP_PORT=""
CYRUS_HTTP_PORT=""
CYRUS_PID=""
CYRUS_JMAP_SESSION_URL=""
CYRUS_SANDBOX_ADMIN=popgate-admin
CYRUS_SANDBOX_ADMIN_PASSWORD=""
_cyrus_sandbox_queued=0

# The Cyrus programs: from cyrus-common, and imapd from the cyrus-imapd package if it is installed,
# else from the copy scripts/lib/install-cyrus.sh unpacked.
_cyrus_sandbox_bin=/usr/lib/cyrus/bin
_cyrus_sandbox_imapd() {
  local candidate
  for candidate in "${POPGATE_CYRUS_IMAPD:-}" "$_cyrus_sandbox_bin/imapd" \
    "${POPGATE_CYRUS_ROOT:-/opt/popgate-cyrus}/usr/lib/cyrus/bin/imapd"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "cyrus-sandbox: no Cyrus imapd; run scripts/install-deps.sh" >&2
  return 1
}

cyrus_sandbox_init() {
  CYRUS_SANDBOX_DIR=$(cd "$1" && pwd) || return 1
  local d=$CYRUS_SANDBOX_DIR
  # The longest unix socket path is $d/conf/socket/notify plus a few bytes; sun_path holds 107.
  if [ ${#d} -gt 80 ]; then
    echo "cyrus_sandbox_init: $d is too long for Cyrus's unix sockets; pick a shorter directory" >&2
    return 1
  fi
  local tool
  for tool in "$_cyrus_sandbox_bin/master" "$_cyrus_sandbox_bin/httpd" "$_cyrus_sandbox_bin/ctl_cyrusdb" \
    /usr/sbin/saslpasswd2; do
    [ -x "$tool" ] || {
      echo "cyrus_sandbox_init: $tool is missing; run scripts/install-deps.sh" >&2
      return 1
    }
  done
  _cyrus_sandbox_imapd >/dev/null || return 1
  # The services run as cyrus: the directory and every parent must be searchable by it.
  local parent=$d
  while [ "$parent" != "/" ]; do
    parent=$(dirname "$parent")
    if [ "$(($(stat -c '0%a' "$parent") & 1))" -eq 0 ]; then
      echo "cyrus_sandbox_init: $parent is not searchable by others (chmod o+x it or pick another directory)" >&2
      return 1
    fi
  done
  mkdir -p "$d"/conf/{socket,proc,lock,log,db,sieve} "$d/spool" "$d/queue"
  : >"$d/users"
  rm -f "$d/sasldb2"
  CYRUS_SANDBOX_ADMIN_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  _cyrus_sandbox_saslpasswd "$CYRUS_SANDBOX_ADMIN" "$CYRUS_SANDBOX_ADMIN_PASSWORD"
  _cyrus_sandbox_queued=0
}

_cyrus_sandbox_saslpasswd() {
  printf '%s' "$2" | /usr/sbin/saslpasswd2 -f "$CYRUS_SANDBOX_DIR/sasldb2" -p -c -u localhost "$1"
  chown cyrus:mail "$CYRUS_SANDBOX_DIR/sasldb2"
  chmod 640 "$CYRUS_SANDBOX_DIR/sasldb2"
}

cyrus_sandbox_add_user() {
  local user=$1 password=$2
  _cyrus_sandbox_saslpasswd "$user" "$password"
  printf '%s\t%s\n' "$user" "$password" >>"$CYRUS_SANDBOX_DIR/users"
  if [ -n "$CYRUS_PID" ]; then
    _cyrus_sandbox_imap create-user "$user"
  fi
}

cyrus_sandbox_deliver() {
  local user=$1 file=$2
  if [ -n "$CYRUS_PID" ]; then
    _cyrus_sandbox_imap append "$user" "$file"
  else
    _cyrus_sandbox_queued=$((_cyrus_sandbox_queued + 1))
    local slot
    slot=$CYRUS_SANDBOX_DIR/queue/$(printf '%06d' "$_cyrus_sandbox_queued")
    mkdir -p "$slot"
    printf '%s' "$user" >"$slot/user"
    cp "$file" "$slot/message"
  fi
}

# A tiny raw IMAP client: imaplib would rewrite bare LF and CR to CRLF before APPEND, and the point is
# to store the file's bytes as they are. LITERAL+ ({n+}) saves waiting for the continuation.
#   create-user USER           as the admin: CREATE user/USER (the user's INBOX)
#   append USER FILE [FILE..]  as USER: APPEND each to INBOX with increasing internal dates
_cyrus_sandbox_imap() {
  python3 - "$CYRUS_SANDBOX_DIR" "$CYRUS_IMAP_PORT" "$CYRUS_SANDBOX_ADMIN" "$CYRUS_SANDBOX_ADMIN_PASSWORD" "$@" <<'PY'
import os, socket, sys, time

sandbox, port, admin, admin_password, action = sys.argv[1:6]
args = sys.argv[6:]
users = dict(line.rstrip("\n").split("\t", 1) for line in open(os.path.join(sandbox, "users")) if line.strip())


class Imap:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        self.file = self.sock.makefile("rb")
        self.tag = 0
        self.file.readline()

    def quote(self, s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def command(self, text, literal=None):
        self.tag += 1
        tag = b"s%d" % self.tag
        data = tag + b" " + text.encode()
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        self.sock.sendall(data + b"\r\n")
        while True:
            line = self.file.readline()
            if not line:
                sys.exit("cyrus-sandbox: IMAP connection closed during %s" % text)
            if line.startswith(tag + b" "):
                reply = line[len(tag) + 1:].decode(errors="replace").strip()
                if not reply.startswith("OK"):
                    raise RuntimeError(reply)
                return reply


def counter_path():
    return os.path.join(sandbox, "appended")


if action == "create-user":
    c = Imap()
    c.command("LOGIN %s %s" % (c.quote(admin), c.quote(admin_password)))
    for user in args:
        try:
            c.command("CREATE %s" % c.quote("user/" + user))
        except RuntimeError as e:
            if "exists" not in str(e).lower():
                sys.exit("cyrus-sandbox: CREATE user/%s: %s" % (user, e))
    c.command("LOGOUT")
elif action == "append":
    user, files = args[0], args[1:]
    c = Imap()
    c.command("LOGIN %s %s" % (c.quote(user), c.quote(users[user])))
    n = int(open(counter_path()).read()) if os.path.exists(counter_path()) else 0
    for f in files:
        n += 1
        # One second apart: receivedAt has 1-second resolution.
        date = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(1704110400 + n))
        try:
            c.command('APPEND INBOX "%s"' % date, open(f, "rb").read())
        except RuntimeError as e:
            sys.exit("cyrus-sandbox: APPEND %s for %s: %s" % (f, user, e))
    open(counter_path(), "w").write(str(n))
    c.command("LOGOUT")
PY
}

_cyrus_sandbox_write_config() {
  local d=$CYRUS_SANDBOX_DIR imapd
  imapd=$(_cyrus_sandbox_imapd) || return 1
  cat >"$d/imapd.conf" <<CONF
# Written by popgate's scripts/lib/cyrus-sandbox.sh: a private instance on loopback. A key given twice
# is a fatal error (master exits 78).
configdirectory: $d/conf
defaultpartition: default
partition-default: $d/spool
sievedir: $d/conf/sieve
lmtpsocket: $d/conf/socket/lmtp
idlesocket: $d/conf/socket/idle
notifysocket: $d/conf/socket/notify
servername: localhost
admins: $CYRUS_SANDBOX_ADMIN
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/sasldb2
sasl_mech_list: PLAIN LOGIN
unixhierarchysep: yes
altnamespace: yes
virtdomains: off
httpmodules: jmap
conversations: yes
conversations_db: twoskip
httpallowcompress: no
# Keep 8-bit bytes in headers: by default Cyrus turns each into 'X' (on APPEND too, not only in lmtpd).
reject8bit: no
munge8bit: no
# A failed IMAP login would otherwise answer after 3 s.
failedloginpause: 0
syslog_prefix: popgate-cyrus-sandbox
CONF
  # master does not hand its -C on: every command needs its own, or it reads /etc/imapd.conf.
  local c="-C $d/imapd.conf"
  cat >"$d/cyrus.conf" <<CONF
# Written by popgate's scripts/lib/cyrus-sandbox.sh.
START {
  recover cmd="$_cyrus_sandbox_bin/ctl_cyrusdb $c -r"
}
SERVICES {
  imap cmd="$imapd $c" listen="127.0.0.1:$CYRUS_IMAP_PORT" prefork=0
  http cmd="$_cyrus_sandbox_bin/httpd $c" listen="127.0.0.1:$CYRUS_HTTP_PORT" prefork=0
}
EVENTS {
}
DAEMON {
}
CONF
}

cyrus_sandbox_start() {
  local d=$CYRUS_SANDBOX_DIR attempt
  for attempt in 1 2 3 4 5; do
    CYRUS_IMAP_PORT=$(sandbox_free_port)
    CYRUS_HTTP_PORT=$(sandbox_free_port)
    [ "$CYRUS_IMAP_PORT" = "$CYRUS_HTTP_PORT" ] && continue
    _cyrus_sandbox_write_config || return 1
    chown -R cyrus:mail "$d"
    chmod 750 "$d"
    # In the foreground (no -d), so $! is master itself; it switches to the user cyrus.
    "$_cyrus_sandbox_bin/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/master.pid" \
      >"$d/master.log" 2>&1 </dev/null &
    CYRUS_PID=$!
    if sandbox_wait_for_port "$CYRUS_IMAP_PORT" 15 "$CYRUS_PID" &&
      sandbox_wait_for_port "$CYRUS_HTTP_PORT" 15 "$CYRUS_PID" &&
      kill -0 "$CYRUS_PID" 2>/dev/null; then
      break
    fi
    # Most likely a port was taken meanwhile: try others.
    sandbox_stop_pid "$CYRUS_PID"
    CYRUS_PID=""
  done
  if [ -z "$CYRUS_PID" ]; then
    echo "cyrus did not start (attempt $attempt); master's output:" >&2
    cat "$d/master.log" >&2 2>/dev/null || true
    return 1
  fi
  # shellcheck disable=SC2034 # for the scripts that source this file
  CYRUS_JMAP_SESSION_URL=http://127.0.0.1:$CYRUS_HTTP_PORT/.well-known/jmap
  local users=() user password slot batch=() batch_user=""
  while IFS=$'\t' read -r user password; do
    [ -n "$user" ] && users+=("$user")
  done <"$d/users"
  if [ ${#users[@]} -gt 0 ]; then
    _cyrus_sandbox_imap create-user "${users[@]}" || return 1
  fi
  # Queued messages in order, one IMAP session for each run of messages to the same user.
  for slot in "$d"/queue/*; do
    [ -d "$slot" ] || continue
    user=$(cat "$slot/user")
    if [ ${#batch[@]} -gt 0 ] && [ "$user" != "$batch_user" ]; then
      _cyrus_sandbox_imap append "$batch_user" "${batch[@]}" || return 1
      batch=()
    fi
    batch_user=$user
    batch+=("$slot/message")
  done
  if [ ${#batch[@]} -gt 0 ]; then
    _cyrus_sandbox_imap append "$batch_user" "${batch[@]}" || return 1
  fi
  rm -rf "$d/queue"
  mkdir "$d/queue"
}

cyrus_sandbox_stop() {
  if [ -n "$CYRUS_PID" ]; then
    sandbox_stop_pid "$CYRUS_PID" 10
    CYRUS_PID=""
  fi
}
