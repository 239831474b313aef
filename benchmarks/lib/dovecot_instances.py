"""The two Dovecot instances of the benchmark: the upstream IMAP server (whose own POP3 is the floor)
and the peer, Dovecot used as a POP3-to-IMAP gateway (imapc storage, passdb imap)."""

import os
import signal
import subprocess
import time

from netutil import free_port, wait_for_port

MAIL_UID = 65534

# Shared tuning: many concurrent sessions and logins, no artificial delays. Login processes in
# high-performance mode (service_count = 0), as an operator expecting this load would run them.
COMMON = """
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_max_userip_connections = 100000
pop3_uidl_format = %08Xu%08Xv
pop3_no_flag_updates = yes
default_process_limit = 12000
default_client_limit = 40000
default_vsz_limit = 2G
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  client_limit = 40000
}
"""


def login_service(name, listener, port):
    return f"""
service {name}-login {{
  inet_listener {listener} {{
    port = {port}
  }}
  inet_listener {listener}s {{
    port = 0
  }}
  service_count = 0
  process_min_avail = 2
  client_limit = 20000
}}
"""


class Dovecot:
    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.proc = None
        os.makedirs(os.path.join(directory, "run"), exist_ok=True)
        os.chmod(directory, 0o755)

    def _header(self):
        d = self.dir
        return (f"base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n"
                f"instance_name = popgate-bench-{self.name}-{os.getpid()}\n")

    def start(self, config_text, ports):
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(self._header() + config_text)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", conf],
                                     stdout=open(os.path.join(self.dir, "dovecot.stdout"), "w"),
                                     stderr=subprocess.STDOUT)
        for port in ports:
            if not wait_for_port(port, 20, self.proc):
                raise RuntimeError(f"dovecot {self.name} did not listen on {port}: see {self.dir}/dovecot.log")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_upstream(directory, home, password):
    """Dovecot with IMAP and its native POP3 on the benchmark Maildirs; any user, one password."""
    d = Dovecot(directory, "upstream")
    imap_port, pop3_port = free_port(), free_port()
    config = COMMON + f"""
protocols = imap pop3
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={home}/%u
}}
# 10,000 idle gateway sessions mean 10,000 upstream IMAP sessions: let one process serve many.
service imap {{
  service_count = 0
  client_limit = 100
  process_limit = 400
}}
""" + login_service("imap", "imap", imap_port) + login_service("pop3", "pop3", pop3_port)
    d.start(config, [imap_port, pop3_port])
    d.imap_port, d.pop3_port = imap_port, pop3_port
    return d


def start_gateway_peer(directory, upstream_imap_port):
    """Dovecot as a POP3-to-IMAP gateway: imapc storage, passdb imap, one pop3 process per session."""
    d = Dovecot(directory, "peer")
    home = os.path.join(directory, "home")
    os.makedirs(home, exist_ok=True)
    os.chown(home, MAIL_UID, MAIL_UID)
    pop3_port = free_port()
    config = COMMON + f"""
protocols = pop3
mail_location = imapc:
mail_home = {home}/%u
mail_uid = {MAIL_UID}
mail_gid = {MAIL_UID}
imapc_host = 127.0.0.1
imapc_port = {upstream_imap_port}
passdb {{
  driver = imap
  args = host=127.0.0.1 port={upstream_imap_port}
  default_fields = userdb_imapc_user=%u userdb_imapc_password=%w
}}
userdb {{
  driver = prefetch
}}
# Dovecot caps the pop3 service at 1,024 processes of its own; one per session, 10,000 idle sessions.
service pop3 {{
  process_limit = 12000
}}
""" + login_service("pop3", "pop3", pop3_port)
    d.start(config, [pop3_port])
    d.pop3_port = pop3_port
    return d
