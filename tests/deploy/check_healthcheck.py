#!/usr/bin/env python3
"""deploy/healthcheck.sh, the image's HEALTHCHECK, against a real popgate admin endpoint: healthy on
/healthz, unhealthy on /readyz while the upstream refuses connections and healthy once it accepts
them, unhealthy on a closed port, on a server that never answers (within its 3 s timeout) and on a
non-200 answer. It runs with a PATH holding only bash and timeout, as in debian:bookworm-slim,
which has no curl or wget."""

import os
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from deploy_lib import Checker, Popgate, arguments, free_port


def run_healthcheck(script, path_dir, *args):
    start = time.monotonic()
    result = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30,
                            env={"PATH": str(path_dir)})
    return result.returncode, time.monotonic() - start


class CannedServer:
    """Accepts on a free loopback port and answers each connection with `reply` (None: never answers)."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            if self.reply is not None:
                conn.recv(4096)
                conn.sendall(self.reply)
                conn.close()

    def close(self):
        self.sock.close()
        for conn in self.connections:
            conn.close()


def main():
    args = arguments(__doc__, popgate=True)
    c = Checker("healthcheck")
    script = args.source_dir / "deploy/healthcheck.sh"
    c.check(os.access(script, os.X_OK), "deploy/healthcheck.sh is not executable")

    with tempfile.TemporaryDirectory(prefix="popgate-healthcheck-") as tmp:
        bin_dir = Path(tmp)
        for tool in ("bash", "timeout"):
            for directory in ("/usr/bin", "/bin"):
                if Path(directory, tool).exists():
                    (bin_dir / tool).symlink_to(Path(directory, tool))
                    break

        with Popgate(args.popgate, ["--readiness-probe-interval", "0.2"]) as popgate:
            admin = f"127.0.0.1:{popgate.admin_port}"
            code, _ = run_healthcheck(script, bin_dir, admin)
            c.check(code == 0, f"healthcheck {admin} (/healthz) exited {code}, expected 0; log:\n{popgate.log_text()}")
            code, _ = run_healthcheck(script, bin_dir, admin, "/healthz")
            c.check(code == 0, f"healthcheck {admin} /healthz exited {code}, expected 0")
            # The upstream (a closed port) refuses connections: not ready.
            code, _ = run_healthcheck(script, bin_dir, admin, "/readyz")
            c.check(code == 1, f"healthcheck {admin} /readyz exited {code} with the upstream down, expected 1")
            # Once something listens on the upstream's port, the next probe makes popgate ready.
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            upstream.bind(("127.0.0.1", popgate.upstream_port))
            upstream.listen(16)
            deadline = time.monotonic() + 15
            code = None
            while time.monotonic() < deadline:
                code, _ = run_healthcheck(script, bin_dir, admin, "/readyz")
                if code == 0:
                    break
                time.sleep(0.1)
            c.check(code == 0, f"/readyz never became healthy with the upstream listening; log:\n{popgate.log_text()}")
            upstream.close()
            code, _ = run_healthcheck(script, bin_dir, admin, "/nonexistent")
            c.check(code == 1, f"healthcheck {admin} /nonexistent (404) exited {code}, expected 1")

        closed = free_port()
        code, elapsed = run_healthcheck(script, bin_dir, f"127.0.0.1:{closed}")
        c.check(code == 1, f"healthcheck on a closed port exited {code}, expected 1")
        c.check(elapsed < 3, f"healthcheck on a closed port took {elapsed:.1f} s")

        silent = CannedServer(None)
        try:
            code, elapsed = run_healthcheck(script, bin_dir, f"127.0.0.1:{silent.port}")
        finally:
            silent.close()
        c.check(code == 1, f"healthcheck against a server that never answers exited {code}, expected 1")
        c.check(2.5 <= elapsed < 10, f"healthcheck against a silent server took {elapsed:.1f} s, expected its 3 s timeout")

        failing = CannedServer(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        try:
            code, _ = run_healthcheck(script, bin_dir, f"127.0.0.1:{failing.port}")
        finally:
            failing.close()
        c.check(code == 1, f"healthcheck against HTTP 500 exited {code}, expected 1")

        liar = CannedServer(b"HTTP/1.1 2000 OK\r\n\r\n")
        try:
            code, _ = run_healthcheck(script, bin_dir, f"127.0.0.1:{liar.port}")
        finally:
            liar.close()
        c.check(code == 1, f"healthcheck accepted status 2000 as 200 (exit {code})")

    c.finish()


if __name__ == "__main__":
    main()
