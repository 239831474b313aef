# shellcheck shell=bash
# A private Dovecot (IMAP + POP3) on loopback high ports in a directory of its own, for popgate's demo
# and benchmark scripts. Source this file; it defines functions only. Requires root (the mail
# processes run as nobody, 65534) and dovecot-core, dovecot-imapd, dovecot-pop3d, python3.
#
#   dovecot_sandbox_init DIR            write nothing yet; remember DIR (must exist, will be chmod 755)
#   dovecot_sandbox_add_user USER PASS  passwd-file user with a {PLAIN} password and an empty Maildir
#   dovecot_sandbox_deliver USER FILE   store a message as local delivery does (tmp/, then new/)
#   dovecot_sandbox_start               start `dovecot -F`, wait for both ports; sets DOVECOT_IMAP_PORT,
#                                       DOVECOT_POP3_PORT and DOVECOT_PID
#   dovecot_sandbox_stop                stop it by PID
# Logs: $DOVECOT_SANDBOX_DIR/dovecot.log. Messages delivered in order get increasing UIDs.

_dovecot_sandbox_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/ports.sh
. "$_dovecot_sandbox_lib_dir/ports.sh"

DOVECOT_SANDBOX_DIR=""
DOVECOT_IMAP_PORT=""
DOVECOT_POP3_PORT=""
DOVECOT_PID=""
_dovecot_sandbox_delivered=0
DOVECOT_SANDBOX_MAIL_UID=65534

dovecot_sandbox_init() {
  DOVECOT_SANDBOX_DIR=$(cd "$1" && pwd)
  # Dovecot's auth (dovecot), login (dovenull) and mail (nobody) processes must reach base_dir, the
  # passwd file and the homes: the directory and every parent must be searchable by others.
  chmod 755 "$DOVECOT_SANDBOX_DIR"
  local parent=$DOVECOT_SANDBOX_DIR
  while [ "$parent" != "/" ]; do
    parent=$(dirname "$parent")
    if [ "$(($(stat -c '0%a' "$parent") & 1))" -eq 0 ]; then
      echo "dovecot_sandbox_init: $parent is not searchable by others (chmod o+x it or pick another directory)" >&2
      return 1
    fi
  done
  mkdir -p "$DOVECOT_SANDBOX_DIR/home"
  : >"$DOVECOT_SANDBOX_DIR/passwd"
}

dovecot_sandbox_add_user() {
  local user=$1 password=$2
  local home="$DOVECOT_SANDBOX_DIR/home/$user"
  mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp"
  chown -R "$DOVECOT_SANDBOX_MAIL_UID:$DOVECOT_SANDBOX_MAIL_UID" "$home"
  printf '%s:{PLAIN}%s:%s:%s::%s\n' "$user" "$password" "$DOVECOT_SANDBOX_MAIL_UID" \
    "$DOVECOT_SANDBOX_MAIL_UID" "$home" >>"$DOVECOT_SANDBOX_DIR/passwd"
}

dovecot_sandbox_deliver() {
  local user=$1 file=$2
  local maildir="$DOVECOT_SANDBOX_DIR/home/$user/Maildir"
  _dovecot_sandbox_delivered=$((_dovecot_sandbox_delivered + 1))
  # Dovecot orders new files by the time stamp in the name.
  local name="$((1600000000 + _dovecot_sandbox_delivered)).M${_dovecot_sandbox_delivered}P$$.popgate-sandbox"
  cp "$file" "$maildir/tmp/$name"
  chown "$DOVECOT_SANDBOX_MAIL_UID:$DOVECOT_SANDBOX_MAIL_UID" "$maildir/tmp/$name"
  mv "$maildir/tmp/$name" "$maildir/new/$name"
}

_dovecot_sandbox_write_config() {
  local d=$DOVECOT_SANDBOX_DIR
  cat >"$d/dovecot.conf" <<CONF
# Written by popgate's scripts/lib/dovecot-sandbox.sh: a private instance on loopback.
base_dir = $d/run
state_dir = $d/state
instance_name = popgate-sandbox-$$-$(basename "$d")
log_path = $d/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/passwd
}
userdb {
  driver = passwd-file
  args = $d/passwd
}
service imap-login {
  inet_listener imap {
    port = $DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
CONF
}

dovecot_sandbox_start() {
  local attempt
  for attempt in 1 2 3 4 5; do
    DOVECOT_IMAP_PORT=$(sandbox_free_port)
    DOVECOT_POP3_PORT=$(sandbox_free_port)
    [ "$DOVECOT_IMAP_PORT" = "$DOVECOT_POP3_PORT" ] && continue
    _dovecot_sandbox_write_config
    dovecot -F -c "$DOVECOT_SANDBOX_DIR/dovecot.conf" \
      >"$DOVECOT_SANDBOX_DIR/dovecot.stdout" 2>"$DOVECOT_SANDBOX_DIR/dovecot.stderr" &
    DOVECOT_PID=$!
    if sandbox_wait_for_port "$DOVECOT_IMAP_PORT" 15 "$DOVECOT_PID" &&
      sandbox_wait_for_port "$DOVECOT_POP3_PORT" 15 "$DOVECOT_PID" &&
      kill -0 "$DOVECOT_PID" 2>/dev/null; then
      return 0
    fi
    # Most likely a port was taken meanwhile: try others.
    sandbox_stop_pid "$DOVECOT_PID"
    DOVECOT_PID=""
  done
  echo "dovecot did not start (attempt $attempt); its log:" >&2
  cat "$DOVECOT_SANDBOX_DIR/dovecot.stderr" "$DOVECOT_SANDBOX_DIR/dovecot.log" >&2 2>/dev/null || true
  return 1
}

dovecot_sandbox_stop() {
  if [ -n "$DOVECOT_PID" ]; then
    sandbox_stop_pid "$DOVECOT_PID"
    DOVECOT_PID=""
  fi
}
