#!/bin/bash
# popgate-healthcheck [HOST:PORT [PATH]]: exit 0 if popgate's admin endpoint answers PATH
# (default /healthz) on HOST:PORT (default 127.0.0.1:9110) with HTTP 200 within 3 seconds, else 1.
# The container's HEALTHCHECK: bash's /dev/tcp and coreutils' timeout only, since the runtime
# image has no curl or wget.
set -u
address=${1:-127.0.0.1:9110}
path=${2:-/healthz}
host=${address%:*}
host=${host#[}
host=${host%]}
port=${address##*:}
# Docker reads 1 as unhealthy (and reserves 2): every failure, a timeout (124) too, exits 1.
if timeout 3 bash -c '
  exec 3<>"/dev/tcp/$0/$1" || exit 1
  printf "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$2" "$0" >&3
  IFS= read -r status <&3 || exit 1
  case "$status" in
    "HTTP/1."[01]" 200 "*) exit 0 ;;
    *) exit 1 ;;
  esac' "$host" "$port" "$path" 2>/dev/null; then
  exit 0
fi
exit 1
