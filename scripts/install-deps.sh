#!/usr/bin/env bash
# Installs every Debian package popgate's build, tests and demo need. Idempotent.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  libuv1-dev android-libboringssl-dev nlohmann-json3-dev prometheus-cpp-dev
  libgtest-dev googletest node-llhttp
  dovecot-core dovecot-imapd dovecot-pop3d
  curl fetchmail python3 openssl ca-certificates procps iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

# Installing dovecot must not start the system service on 110/143: popgate's
# tests and demo run their own instances on loopback high ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $sudo rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
