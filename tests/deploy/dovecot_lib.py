"""A private Dovecot (IMAP + its own POP3, the oracle) on free loopback ports, for the deploy/
checks that need a real upstream: the sandbox of scripts/lib/dovecot-sandbox.sh (the one the demo
and the soak test use), driven from Python. A bash child runs it and waits on Dovecot; stopping that
child stops Dovecot by PID. Needs root (the mail processes run as nobody) and dovecot-core,
dovecot-imapd, dovecot-pop3d."""

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from deploy_lib import stop_process

SANDBOX = Path(__file__).resolve().parents[2] / "scripts/lib/dovecot-sandbox.sh"


class Dovecot:
    """add_user() and deliver() before start(); then imap_port and pop3_port answer on 127.0.0.1."""

    def __init__(self):
        if os.geteuid() != 0:
            raise RuntimeError("Dovecot's fixture needs root: its mail processes switch to uid 65534")
        self._tmp = tempfile.TemporaryDirectory(prefix="popgate-dovecot-")
        self.dir = Path(self._tmp.name)
        self.dir.chmod(0o755)  # the sandbox's directory and its parents must be searchable by others
        (self.dir / "sandbox").mkdir()
        self._steps = []
        self._delivered = 0
        self.process = None
        self.imap_port = self.pop3_port = None

    def add_user(self, user, password):
        self._steps.append(f"dovecot_sandbox_add_user {shlex.quote(user)} {shlex.quote(password)}")

    def deliver(self, user, message):
        """Stores `message` (bytes, LF line ends as local delivery writes them) as the next message."""
        self._delivered += 1
        path = self.dir / f"message-{self._delivered}"
        path.write_bytes(message)
        self._steps.append(f"dovecot_sandbox_deliver {shlex.quote(user)} {shlex.quote(str(path))}")

    def start(self):
        script = "\n".join([
            "set -e",
            f". {shlex.quote(str(SANDBOX))}",
            f"dovecot_sandbox_init {shlex.quote(str(self.dir / 'sandbox'))}",
            *self._steps,
            "dovecot_sandbox_start",
            "trap 'dovecot_sandbox_stop; exit 0' TERM",
            'echo "$DOVECOT_IMAP_PORT $DOVECOT_POP3_PORT"',
            'wait "$DOVECOT_PID"',
        ])
        with open(self.dir / "sandbox.stderr", "wb") as stderr:
            # A fixed PATH: the checks may run with a cleaned environment, and Dovecot finds its
            # own helpers through PATH.
            self.process = subprocess.Popen(["bash", "-c", script], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=stderr,
                                            env={**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        ports = self.process.stdout.readline().split()
        if len(ports) != 2:
            self.stop()
            raise RuntimeError(f"dovecot did not start: {self.log_text()}")
        self.imap_port, self.pop3_port = int(ports[0]), int(ports[1])

    def log_text(self):
        text = ""
        for path in (self.dir / "sandbox.stderr", self.dir / "sandbox/dovecot.stderr",
                     self.dir / "sandbox/dovecot.log"):
            try:
                text += path.read_text(errors="replace")
            except OSError:
                pass
        return text

    def stop(self):
        if self.process is not None:
            stop_process(self.process, timeout=15)
            self.process.stdout.close()
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self._tmp.cleanup()
