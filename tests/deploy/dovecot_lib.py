"""A private Dovecot (IMAP + its own POP3, the oracle) on free loopback ports, in a temp dir of its
own, for the deploy/ checks that need a real upstream. Started in the foreground and stopped by PID.
Needs root (the mail processes run as nobody) and dovecot-core, dovecot-imapd, dovecot-pop3d."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy_lib import free_port, wait_for_port

MAIL_UID = 65534  # nobody: Dovecot refuses to run mail processes as root

CONFIG = """# Written by popgate's tests/deploy/dovecot_lib.py: a private instance on loopback.
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = popgate-deploy-{pid}-{name}
log_path = {dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


class Dovecot:
    """add_user() and deliver() before start(); then imap_port and pop3_port answer on 127.0.0.1."""

    def __init__(self):
        if os.geteuid() != 0:
            raise RuntimeError("Dovecot's fixture needs root: its mail processes switch to uid 65534")
        self._tmp = tempfile.TemporaryDirectory(prefix="popgate-dovecot-")
        self.dir = Path(self._tmp.name)
        # Dovecot's auth, login (dovenull) and mail (nobody) processes must reach the passwd file and
        # the homes. /tmp and its parents are searchable by others.
        self.dir.chmod(0o755)
        (self.dir / "home").mkdir()
        (self.dir / "passwd").write_text("")
        self.process = None
        self.imap_port = self.pop3_port = None
        self._delivered = 0

    def add_user(self, user, password):
        home = self.dir / "home" / user
        for sub in ("", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
            os.chown(home / sub, MAIL_UID, MAIL_UID)
        with open(self.dir / "passwd", "a") as passwd:
            passwd.write(f"{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{home}\n")

    def deliver(self, user, message):
        """Stores `message` (bytes, LF line ends as local delivery writes them) as the next message."""
        self._delivered += 1
        maildir = self.dir / "home" / user / "Maildir"
        # Dovecot numbers new messages in the order of the time stamp their names start with.
        name = f"{1600000000 + self._delivered}.M{self._delivered}P{os.getpid()}.popgate-deploy"
        (maildir / "tmp" / name).write_bytes(message)
        os.chown(maildir / "tmp" / name, MAIL_UID, MAIL_UID)
        os.rename(maildir / "tmp" / name, maildir / "new" / name)

    def start(self):
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        for _ in range(5):
            self.imap_port, self.pop3_port = free_port(), free_port()
            if self.imap_port == self.pop3_port:
                continue
            (self.dir / "dovecot.conf").write_text(CONFIG.format(
                dir=self.dir, pid=os.getpid(), name=self.dir.name, imap_port=self.imap_port,
                pop3_port=self.pop3_port))
            with open(self.dir / "dovecot.stderr", "wb") as stderr:
                self.process = subprocess.Popen([dovecot, "-F", "-c", str(self.dir / "dovecot.conf")],
                                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=stderr)
            if (wait_for_port(self.imap_port, 15, self.process) and
                    wait_for_port(self.pop3_port, 15, self.process)):
                return
            self.stop()  # most likely a port was taken meanwhile: try others
        raise RuntimeError(f"dovecot did not start: {self.log_text()}")

    def log_text(self):
        text = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            try:
                text += (self.dir / name).read_text(errors="replace")
            except OSError:
                pass
        return text

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self._tmp.cleanup()
