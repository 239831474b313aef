# shellcheck shell=bash
# Loopback port helpers for popgate's scripts: pick a free port, wait until a port accepts connections.
# Source this file; it defines functions only.

# Prints a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed).
# Callers that lose the race retry with another one.
sandbox_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# sandbox_wait_for_port PORT TIMEOUT_SECONDS [PID]
# Polls until 127.0.0.1:PORT accepts a connection. Fails after TIMEOUT_SECONDS, or at once if PID
# (the server that should listen) has exited.
sandbox_wait_for_port() {
  local port=$1 timeout=$2 pid=${3:-}
  local deadline=$((SECONDS + timeout))
  while :; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.02
  done
}

# sandbox_stop_pid PID [GRACE_SECONDS]
# Stops one process we started: SIGTERM, then SIGKILL if it is still there after GRACE_SECONDS.
sandbox_stop_pid() {
  local pid=$1 grace=${2:-5}
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
}
