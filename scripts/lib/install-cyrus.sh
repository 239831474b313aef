#!/usr/bin/env bash
# Unpacks Cyrus's imapd next to an installed Dovecot, for popgate's JMAP tests. Idempotent; run as root.
#
# cyrus-imapd (which holds /usr/lib/cyrus/bin/imapd) and dovecot-imapd both Provide and Conflict with
# "imap-server", so apt cannot install both. scripts/install-deps.sh installs cyrus-common (master,
# httpd, lmtpd and the libraries imapd links against), cyrus-caldav (httpd's JMAP module) and sasl2-bin;
# this script fetches the cyrus-imapd .deb of the same version with `apt-get download` and unpacks it
# under $POPGATE_CYRUS_ROOT (default /opt/popgate-cyrus) without registering it with dpkg. The fixtures
# look for $POPGATE_CYRUS_ROOT/usr/lib/cyrus/bin/imapd. Nothing is started.
set -euo pipefail

root=${POPGATE_CYRUS_ROOT:-/opt/popgate-cyrus}
stamp=$root/VERSION

die() {
  echo "install-cyrus: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root"
installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

common=$(installed_version cyrus-common)
[ -n "$common" ] || die "cyrus-common is not installed (scripts/install-deps.sh installs it)"

# A cyrus-imapd package installed the regular way (no Dovecot on this machine) needs nothing more.
if [ -x /usr/lib/cyrus/bin/imapd ]; then
  exit 0
fi
if [ -x "$root/usr/lib/cyrus/bin/imapd" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$common" ]; then
  exit 0
fi

scratch=$(mktemp -d /tmp/popgate-cyrus-deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
# apt-get download drops root privileges to _apt for the transfer: let it write here.
chown _apt "$scratch" 2>/dev/null || true

download() {
  (cd "$scratch" && apt-get download -q=2 "cyrus-imapd=$1") >/dev/null 2>"$scratch/apt.err"
}

export DEBIAN_FRONTEND=noninteractive
if ! download "$common"; then
  # The archive may have moved on (a point release or security update) since cyrus-common was
  # installed, and the old .deb is gone: bring the cyrus packages up to the candidate and retry.
  apt-get update -qq
  if ! download "$common"; then
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 cyrus-common cyrus-caldav
    common=$(installed_version cyrus-common)
    download "$common" || die "apt-get download cyrus-imapd=$common failed: $(cat "$scratch/apt.err")"
  fi
fi

deb=$(find "$scratch" -maxdepth 1 -name 'cyrus-imapd_*.deb' | head -n 1)
[ -n "$deb" ] || die "apt-get download left no cyrus-imapd .deb"
rm -rf "$root.new"
mkdir -p "$root.new"
dpkg-deb -x "$deb" "$root.new"
[ -x "$root.new/usr/lib/cyrus/bin/imapd" ] || die "$deb holds no usr/lib/cyrus/bin/imapd"
echo "$common" >"$root.new/VERSION"
chown -R root:root "$root.new"
chmod 755 "$root.new"
rm -rf "$root"
mv "$root.new" "$root"
echo "install-cyrus: imapd $common unpacked into $root"
