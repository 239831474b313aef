#!/usr/bin/env bash
# Installs every Debian package popgate's build, tests and demo need, and the npm packages of the
# deploy/ checks. Idempotent, and quick when everything is there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libuv1-dev android-libboringssl-dev nlohmann-json3-dev prometheus-cpp-dev
  # libxcrypt: crypt_rn for local account password hashes (libcrypt1 itself is in every image)
  libcrypt-dev
  # hiredis: only its sans-I/O RESP reply reader (hiredis/read.h), for the Redis state store
  libhiredis-dev
  libgtest-dev googletest node-llhttp
  dovecot-core dovecot-imapd dovecot-pop3d
  cyrus-common cyrus-caldav sasl2-bin
  # shared-state tests: their own redis-server and redis-sentinel on loopback
  redis-server redis-sentinel
  curl fetchmail python3 openssl ca-certificates procps iproute2
  # deploy/ checks: a real Prometheus server scrapes popgate; promtool checks the alert rules;
  # node runs kubernetes-models (npm, tests/deploy/package.json) on the Kubernetes manifests.
  prometheus python3-yaml nodejs npm
  # deploy/ image test (check_image.py): builds deploy/Dockerfile and runs the image without a
  # Docker engine, on base images bootstrapped from Debian's packages (podman only imports them).
  buildah podman mmdebstrap uidmap
  # scripts/fuzz.sh: libFuzzer and the sanitizer runtimes (only recommended by clang-14), and
  # llvm-symbolizer for readable crash stacks.
  clang-14 libclang-rt-14-dev llvm-14
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# install_packages PACKAGE...: apt-get install, without starting the services they bring.
install_packages() {
  # Installing dovecot, cyrus, the MTA that cyrus-common pulls in (exim4) and redis must not start
  # system services on 25/110/143/6379/26379: popgate's tests and demo run their own instances on
  # loopback high ports. The redis packages start theirs through invoke-rc.d too, so this stops them.
  local policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    created_policy=1
  fi
  trap '[ $created_policy -eq 1 ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT

  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # --no-install-recommends matters: cyrus-common recommends cyrus-imapd, which conflicts with
  # dovecot-imapd (both are an "imap-server") and would make apt remove Dovecot.
  $sudo apt-get install -y -qq --no-install-recommends "$@"
}

# What is installed, and what installed packages provide: a nodejs package from elsewhere than
# Debian may provide (and conflict with) npm, and then it is there.
installed=$(dpkg-query -W -f='${db:Status-Abbrev}|${Package}, ${Provides}\n' 2>/dev/null |
  awk -F'|' '$1 ~ /^ii/ { print $2 }' | tr ',' '\n' | sed 's/(.*)//; s/^ *//; s/ *$//' | sort -u)
missing=()
for p in "${packages[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  install_packages "${missing[@]}"
fi
# Cyrus's imapd cannot be installed next to dovecot-imapd: it is unpacked from its .deb (no-op if done).
$sudo "$here/lib/install-cyrus.sh"
"$here/lib/install-node-modules.sh"
