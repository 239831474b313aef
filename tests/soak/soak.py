#!/usr/bin/env python3
"""Soak driver for popgate (python3 stdlib only), started by scripts/soak.sh.

It puts a fault relay (a thread here) between popgate and a running Dovecot sandbox, starts popgate
in front of the relay, and for --minutes runs mixed POP3 load (STAT/UIDL/LIST/RETR/TOP/DELE/QUIT,
abrupt disconnects, slow readers) while faults happen: the relay drops every upstream connection,
the relay stalls longer than popgate's upstream timeout, Dovecot is restarted. Then it reports
sessions served, errors by kind, popgate's RSS and descriptor count at start and end, and checks
every user's mailbox over IMAP: nothing lost, every confirmed deletion gone.
Exit status 0 only if descriptors and memory came back near the start, no message was lost and
popgate is still running.
"""

import argparse
import collections
import imaplib
import os
import poplib
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

MAIL_UID = 65534


def log(text):
    print(f"soak: {text}", flush=True)


# ---------------------------------------------------------------- the fault relay

class Relay:
    """Forwards 127.0.0.1:port to the upstream; drop_all() and stall() are the faults."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = set()
        self.stalled_until = 0.0
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                up.settimeout(None)
            except OSError:
                down.close()  # the upstream is down (restarting): popgate sees a closed connection
                continue
            pair = (down, up)
            with self.lock:
                self.pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        down, up = pair
        try:
            while True:
                readable, _, _ = select.select([down, up], [], [], 0.2)
                if time.monotonic() < self.stalled_until:
                    readable = [s for s in readable if s is down]
                    if not readable:
                        time.sleep(0.05)
                        continue
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (up if sock is down else down).sendall(data)
        except OSError:
            return
        finally:
            with self.lock:
                self.pairs.discard(pair)
            for sock in pair:
                try:
                    sock.close()
                except OSError:
                    pass

    def drop_all(self):
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return len(pairs)

    def stall(self, seconds):
        self.stalled_until = time.monotonic() + seconds

    def close(self):
        self.stopping = True
        self.listener.close()
        self.drop_all()


# ---------------------------------------------------------------- mailboxes

class Mailboxes:
    """Which Message-IDs each user must have: delivered ones minus confirmed deletions."""

    def __init__(self, maildir_root, users):
        self.root = maildir_root
        self.lock = threading.Lock()
        self.present = {u: set() for u in users}     # must be there at the end
        self.confirmed = {u: set() for u in users}   # QUIT +OK after DELE: must be gone
        self.uncertain = {u: set() for u in users}   # QUIT answered -ERR or no answer: either way
        self.counter = 0

    def deliver(self, user, count, big_every=10):
        for _ in range(count):
            with self.lock:
                self.counter += 1
                n = self.counter
            message_id = f"<soak-{n}@popgate.test>"
            lines = 20 if n % big_every else 40000  # now and then a ~3 MiB message
            body = "".join(f"line {i} of soak message {n} .with a dot\r\n" for i in range(lines))
            text = (f"From: soak@popgate.test\r\nTo: {user}@popgate.test\r\nSubject: soak {n}\r\n"
                    f"Message-ID: {message_id}\r\n\r\n{body}.\r\n..\r\n")
            maildir = os.path.join(self.root, user, "Maildir")
            name = f"{1600000000 + n}.M{n}P{os.getpid()}.soak"
            tmp = os.path.join(maildir, "tmp", name)
            with open(tmp, "w", newline="") as f:
                f.write(text)
            os.chown(tmp, MAIL_UID, MAIL_UID)
            os.rename(tmp, os.path.join(maildir, "new", name))
            with self.lock:
                self.present[user].add(message_id)

    def count(self, user):
        with self.lock:
            return len(self.present[user])

    def settle(self, user, deleted, confirmed):
        with self.lock:
            for message_id in deleted:
                self.present[user].discard(message_id)
                (self.confirmed if confirmed else self.uncertain)[user].add(message_id)


# ---------------------------------------------------------------- load

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sessions = collections.Counter()
        self.errors = collections.Counter()

    def session(self, kind):
        with self.lock:
            self.sessions[kind] += 1

    def error(self, kind):
        with self.lock:
            self.errors[kind] += 1


def error_kind(exc):
    text = str(exc)
    match = re.search(r"-ERR (\[[A-Z/-]+\])?", text)
    if match:
        return f"-ERR {match.group(1) or ''}".strip()
    return type(exc).__name__


def message_id_of(pop, number):
    _, lines, _ = pop.top(number, 0)
    for line in lines:
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def one_session(args, user, mailboxes, stats, rng):
    kind = rng.choices(["normal", "abrupt", "slow"], weights=[70, 20, 10])[0]
    pop = poplib.POP3("127.0.0.1", args.pop3_port, timeout=60)
    deleted = []
    try:
        pop.user(user)
        pop.pass_(args.password)
        count, _ = pop.stat()
        pop.uidl()
        listing = pop.list()[1]
        if count == 0:
            pop.quit()
            stats.session(kind)
            return
        number = rng.randint(1, count)
        if kind == "abrupt":
            # RETR, read a little, and vanish (with a DELE that must not take effect).
            pop.dele(number)
            pop._putcmd(f"RETR {rng.randint(1, count)}")
            pop.sock.recv(rng.choice([10, 4096, 65536]))
            pop.sock.close()
            stats.session(kind)
            return
        if kind == "slow":
            big = max(range(1, count + 1), key=lambda n: int(listing[n - 1].split()[1]))
            pop._putcmd(f"RETR {big}")
            pop.sock.settimeout(60)
            received = 0
            end = time.monotonic() + rng.uniform(2, 6)
            while time.monotonic() < end:
                chunk = pop.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed during a slow RETR")
                received += len(chunk)
                time.sleep(0.05)
            pop.sock.close()  # gave up half-way: a slow reader that leaves
            stats.session(kind)
            return
        pop.retr(number)
        pop.top(rng.randint(1, count), 5)
        if rng.random() < 0.3 and mailboxes.count(user) > 5:
            victim = rng.randint(1, count)
            message_id = message_id_of(pop, victim)
            pop.dele(victim)
            if message_id:
                deleted.append(message_id)
        try:
            pop.quit()
        except (poplib.error_proto, OSError):
            mailboxes.settle(user, deleted, confirmed=False)
            raise
        mailboxes.settle(user, deleted, confirmed=True)
        stats.session(kind)
    except (poplib.error_proto, OSError, EOFError) as exc:
        stats.error(error_kind(exc))
        try:
            pop.sock.close()
        except OSError:
            pass
        time.sleep(0.2)  # a client backs off a little after an error


def worker(args, user, mailboxes, stats, deadline, seed):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        if mailboxes.count(user) < 15:
            mailboxes.deliver(user, 10)
        one_session(args, user, mailboxes, stats, rng)


# ---------------------------------------------------------------- faults

def restart_dovecot(args, state):
    pid = state["dovecot_pid"]
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.05)
    time.sleep(1)  # the upstream is down for a moment
    process = subprocess.Popen(["dovecot", "-F", "-c", args.dovecot_config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state["dovecot_pid"] = process.pid
    state["children"].append(process)
    with open(args.dovecot_pid_file, "w") as f:
        f.write(str(process.pid))
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", args.imap_port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not come back")


def fault_loop(args, relay, stats, deadline, state):
    rng = random.Random(7)
    faults = ["drop", "stall", "restart"]
    while time.monotonic() < deadline - args.fault_interval:
        time.sleep(args.fault_interval)
        fault = faults[state["faults"] % len(faults)] if rng.random() < 0.8 else rng.choice(faults)
        state["faults"] += 1
        if fault == "drop":
            log(f"fault: relay drops {relay.drop_all()} upstream connections")
        elif fault == "stall":
            log("fault: relay stalls the upstream for 4 s")
            relay.stall(4)
        else:
            log("fault: Dovecot restarts")
            restart_dovecot(args, state)
        stats.session("fault:" + fault)


# ---------------------------------------------------------------- popgate

def metric(admin_port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def footprint(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def wait_idle(pid, admin_port, timeout=60):
    """Until no session and no upstream connection is left; then the footprint."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if metric(admin_port, "popgate_sessions_active") == 0 and \
                (metric(admin_port, "popgate_upstream_connections_active") or 0) == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # the admin connections of the scrapes themselves close
    return footprint(pid)


def imap_message_ids(port, user, password):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    ids = set()
    for item in data:
        if isinstance(item, tuple):
            match = re.search(rb"<[^>]+>", item[1])
            if match:
                ids.add(match.group(0).decode())
    imap.logout()
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--popgate", required=True)
    parser.add_argument("--imap-port", type=int, required=True)
    parser.add_argument("--dovecot-pid", type=int, required=True)
    parser.add_argument("--dovecot-config", required=True)
    parser.add_argument("--dovecot-pid-file", required=True)
    parser.add_argument("--maildir-root", required=True)
    parser.add_argument("--users", required=True, help="comma-separated")
    parser.add_argument("--password", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--fault-interval", type=float, default=20)
    parser.add_argument("--max-fd-growth", type=int, default=4)
    parser.add_argument("--max-rss-growth-kib", type=int, default=64 * 1024)
    args = parser.parse_args()
    users = args.users.split(",")

    relay = Relay(args.imap_port)
    mailboxes = Mailboxes(args.maildir_root, users)
    for user in users:
        mailboxes.deliver(user, 30)

    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s)
    args.pop3_port, admin_port = (s.getsockname()[1] for s in ports)
    for s in ports:
        s.close()
    log_path = os.path.join(args.work, "popgate.log")
    popgate = subprocess.Popen(
        [args.popgate, "--listen", f"127.0.0.1:{args.pop3_port}", "--upstream",
         f"imap://127.0.0.1:{relay.port}", "--admin", f"127.0.0.1:{admin_port}",
         "--upstream-timeout", "2", "--idle-timeout", "30", "--auth-failure-delay", "0",
         "--log-level", "info", "--drain-timeout", "5"],
        stderr=open(log_path, "w"),
        # popgate reads POPGATE_* variables as options: not this script's POPGATE_BINARY.
        env={k: v for k, v in os.environ.items() if not k.startswith("POPGATE_")})
    state = {"dovecot_pid": args.dovecot_pid, "faults": 0, "children": []}
    failures = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", admin_port), timeout=1).close()
                break
            except OSError:
                if popgate.poll() is not None:
                    raise RuntimeError("popgate exited at start; see " + log_path)
                time.sleep(0.05)
        rss_start, fds_start = wait_idle(popgate.pid, admin_port)
        log(f"popgate pid {popgate.pid} on 127.0.0.1:{args.pop3_port}; VmRSS {rss_start} KiB, "
            f"{fds_start} fds; load for {args.minutes} min with {args.clients} clients")

        stats = Stats()
        deadline = time.monotonic() + args.minutes * 60
        threads = [threading.Thread(target=worker,
                                    args=(args, users[i % len(users)], mailboxes, stats, deadline, i))
                   for i in range(args.clients)]
        threads.append(threading.Thread(target=fault_loop, args=(args, relay, stats, deadline, state)))
        for t in threads:
            t.start()
        next_report = time.monotonic() + 60
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if time.monotonic() >= next_report:
                next_report += 60
                rss, fds = footprint(popgate.pid)
                log(f"{sum(stats.sessions.values())} sessions, {sum(stats.errors.values())} errors; "
                    f"VmRSS {rss} KiB, {fds} fds")
        for t in threads:
            t.join()

        if popgate.poll() is not None:
            failures.append(f"popgate exited with {popgate.returncode}")
            rss_end, fds_end = -1, -1
        else:
            rss_end, fds_end = wait_idle(popgate.pid, admin_port)

        lost = 0
        resurrected = 0
        for user in users:
            ids = imap_message_ids(args.imap_port, user, args.password)
            missing = mailboxes.present[user] - ids
            back = mailboxes.confirmed[user] & ids
            lost += len(missing)
            resurrected += len(back)
            if missing:
                failures.append(f"{user}: {len(missing)} messages lost, e.g. {sorted(missing)[:3]}")
            if back:
                failures.append(f"{user}: {len(back)} confirmed deletions still there")

        print()
        print("== soak report")
        served = {k: v for k, v in stats.sessions.items() if not k.startswith("fault:")}
        faults = {k[6:]: v for k, v in stats.sessions.items() if k.startswith("fault:")}
        print(f"sessions served: {sum(served.values())} " + str(dict(sorted(served.items()))))
        print(f"faults injected: {sum(faults.values())} " + str(dict(sorted(faults.items()))))
        print(f"errors by kind:  {sum(stats.errors.values())} " + str(dict(stats.errors.most_common())))
        uncertain = sum(len(v) for v in mailboxes.uncertain.values())
        confirmed = sum(len(v) for v in mailboxes.confirmed.values())
        print(f"deletions: {confirmed} confirmed (all gone: {resurrected == 0}), {uncertain} unconfirmed; "
              f"messages lost: {lost}")
        print(f"popgate VmRSS: {rss_start} KiB at start, {rss_end} KiB at end")
        print(f"popgate fds:   {fds_start} at start, {fds_end} at end")
        if sum(served.values()) == 0:
            failures.append("no session was served")
        if fds_end > fds_start + args.max_fd_growth:
            failures.append(f"descriptors grew from {fds_start} to {fds_end}")
        if rss_end > rss_start + args.max_rss_growth_kib:
            failures.append(f"VmRSS grew from {rss_start} KiB to {rss_end} KiB")
    finally:
        relay.close()
        if popgate.poll() is None:
            popgate.send_signal(signal.SIGTERM)
            try:
                popgate.wait(timeout=15)
            except subprocess.TimeoutExpired:
                popgate.kill()
                popgate.wait()
    for failure in failures:
        print(f"FAILED: {failure}")
    print("soak: " + ("PASSED" if not failures else "FAILED") + f" (popgate log: {log_path})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
