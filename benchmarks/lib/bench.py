"""popgate's side-by-side benchmark: popgate vs Dovecot as a POP3-to-IMAP gateway (the peer), with
Dovecot's native POP3 on the same Maildirs as the floor. Run through benchmarks/run.sh."""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import dovecot_instances
import mailstore
import procstat
import report
from netutil import free_port, wait_for_port

PASSWORD = "bench-secret"
BIG_SIZE = 100 * 1000 * 1000


class Target:
    def __init__(self, name, port, pid):
        self.name, self.port, self.pid = name, port, pid


class Bench:
    def __init__(self, args):
        self.args = args
        self.results = {"loop": {}, "idle": {}, "big": {}, "scaling": {}, "scaling_snapshot": {}, "login": {},
                        "snapshot": {}, "store": {}}

    # --- processes -----------------------------------------------------------------------------
    def loadgen(self, *extra, timeout=900):
        cmd = [self.args.loadgen, "--password", PASSWORD, *map(str, extra)]
        # Sessions come from 64 client addresses, as from many devices: popgate with upstream session
        # reuse steers each address to one event loop, so one address would use one loop.
        if extra[:2] != ("--mode", "retr-one") and extra[:2] != ("--mode", "imap-fetch-one"):
            cmd += ["--sources", "64"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"loadgen failed ({' '.join(cmd)}): {r.stderr.strip()}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def start_popgate(self, workers=None, extra=()):
        port = free_port()
        help_text = subprocess.run([self.args.popgate, "--help"], capture_output=True, text=True).stdout
        cmd = [self.args.popgate, "--listen", f"127.0.0.1:{port}",
               "--upstream", f"imap://127.0.0.1:{self.upstream.imap_port}",
               "--auth-failure-delay", "0", "--no-admin", "--log-level", "info", "--idle-timeout", "3600"]
        # Admission limits (if this build has them) must not cap the benchmark.
        for option in ("--max-sessions", "--max-sessions-per-ip"):
            if option in help_text:
                cmd += [option, "0"]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        cmd += list(extra)
        log = open(os.path.join(self.work, "popgate.log"), "a")
        self.popgate_proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        if not wait_for_port(port, 20, self.popgate_proc):
            raise RuntimeError("popgate did not start: see popgate.log")
        return Target("popgate", port, self.popgate_proc.pid)

    def restart_popgate(self):
        self.stop_popgate()
        return self.start_popgate()

    def stop_popgate(self):
        if self.popgate_proc.poll() is None:
            self.popgate_proc.send_signal(signal.SIGTERM)
            try:
                self.popgate_proc.wait(15)
            except subprocess.TimeoutExpired:
                self.popgate_proc.kill()
                self.popgate_proc.wait()

    # --- scenarios -----------------------------------------------------------------------------
    def loop_run(self, target, concurrency, duration, into=None):
        cpu0 = procstat.cpu_seconds(target.pid)
        up0 = procstat.cpu_seconds(self.upstream.pid)
        report = self.loadgen("--mode", "loop", "--port", target.port, "--user-prefix", "bench",
                              "--users", self.args.users, "--concurrency", concurrency, "--duration", duration)
        report["target_cpu_s"] = procstat.cpu_seconds(target.pid) - cpu0
        if target.name != "native":
            report["upstream_cpu_s"] = procstat.cpu_seconds(self.upstream.pid) - up0
        if into is None:
            into = self.results["loop"].setdefault(target.name, {}).setdefault(str(concurrency), [])
        into.append(report)
        print(f"  loop c={concurrency:<3} {target.name:8} {report['messages_per_s']:9.0f} msg/s "
              f"{report['mb_per_s']:8.1f} MB/s cpu {report['target_cpu_s']:6.2f}s "
              f"failed {report['sessions_failed']}", flush=True)

    def scaling_runs(self):
        """popgate --workers 1 vs --workers 2 at c=64, interleaved, each on a fresh process: the mail
        loop (the upstream Dovecot does most of the work), then pipelined snapshot commands (popgate
        does nearly all of it: STAT, LIST, UIDL answered from memory, 16 rounds per write)."""
        a = self.args
        self.stop_popgate()
        for r in range(a.rounds):
            for workers in ((1, 2) if r % 2 == 0 else (2, 1)):
                target = self.start_popgate(workers=workers)
                self.loadgen("--mode", "loop", "--port", target.port, "--user-prefix", "bench", "--users", a.users,
                             "--concurrency", 16, "--duration", 1)
                print(f"  --workers {workers}:", end="", flush=True)
                self.loop_run(target, 64, a.duration, into=self.results["scaling"].setdefault(str(workers), []))
                self.pipelined_snapshot_run(target, workers)
                self.stop_popgate()

    def pipelined_snapshot_run(self, target, workers):
        cpu0 = procstat.cpu_seconds(target.pid)
        report = self.loadgen("--mode", "snapshot", "--port", target.port, "--user-prefix", "bench", "--users",
                              self.args.users, "--concurrency", 64, "--rounds", 10**6, "--pipeline", 16,
                              "--duration", self.args.duration)
        report["target_cpu_s"] = procstat.cpu_seconds(target.pid) - cpu0
        report["commands"] = sum(report["latency"].get(k, {}).get("count", 0) for k in ("STAT", "LIST", "UIDL"))
        self.results["scaling_snapshot"].setdefault(str(workers), []).append(report)
        print(f"  --workers {workers}: snapshot, pipelined {report['commands'] / report['elapsed_s']:9.0f} commands/s "
              f"popgate cpu {report['target_cpu_s']:5.2f}s loadgen cpu {report['loadgen_cpu_s']:5.2f}s "
              f"failed {report['sessions_failed']}", flush=True)

    def snapshot_runs(self, targets):
        """Commands answered from the session snapshot (STAT, LIST, UIDL) at c=64, paced: every session
        pauses 10 ms (±50%) between rounds, so the latency is what each server adds to a round trip, not
        the queueing of a saturated machine (at c=64 closed-loop, latency is just 64 / throughput).
        Two variants: "held" sessions stay logged in for the whole run; "churn" sessions QUIT and log
        in again after 50 rounds (about 128 logins/s at c=64, each one work for the upstream too)."""
        a = self.args
        for variant, rounds in (("held", 10**6), ("churn", 50)):
            for r in range(a.rounds):
                for t in (targets if r % 2 == 0 else targets[::-1]):
                    report = self.loadgen("--mode", "snapshot", "--port", t.port, "--user-prefix", "bench",
                                          "--users", a.users, "--concurrency", 64, "--rounds", rounds,
                                          "--think-ms", 10, "--duration", a.duration)
                    self.results["snapshot"].setdefault(variant, {}).setdefault(t.name, []).append(report)
                    lat = report["latency"]
                    print(f"  {variant:5} {t.name:8} " + "  ".join(
                        f"{k} {lat[k]['p50_us']:.0f}/{lat[k]['p99_us']:.0f} µs" for k in ("STAT", "LIST", "UIDL")
                        if k in lat) + f"  failed {report['sessions_failed']}", flush=True)

    def popgate_has_workers(self):
        return "--workers" in subprocess.run([self.args.popgate, "--help"], capture_output=True, text=True).stdout

    def login_runs(self):
        """connect, USER, PASS, STAT, QUIT loops over 64 users at c=1 and c=16, popgate with upstream session
        reuse on (--upstream-reuse-time 60) and off (0), interleaved, each on a fresh process. Each user comes
        back every 64 sessions, like a device polling: with reuse on, after the warm-up every PASS finds its
        parked upstream session."""
        a = self.args
        self.stop_popgate()
        for c in (1, 16):
            for r in range(a.rounds):
                for reuse in (("on", "off") if r % 2 == 0 else ("off", "on")):
                    # One worker: parked sessions belong to one event loop (see README.md).
                    target = self.start_popgate(workers=1 if self.popgate_has_workers() else None,
                                                extra=("--upstream-reuse-time", "60" if reuse == "on" else "0"))
                    common = ("--port", target.port, "--user-prefix", "bench", "--users", 64, "--concurrency", c)
                    self.loadgen("--mode", "login", *common, "--sessions", 64, "--duration", 60)  # warm-up
                    report = self.loadgen("--mode", "login", *common, "--duration", a.duration)
                    self.results["login"].setdefault(str(c), {}).setdefault(reuse, []).append(report)
                    p = report["latency"].get("PASS", {})
                    print(f"  c={c:<3} reuse {reuse:3}: PASS p50 {p.get('p50_us', 0):.0f} µs p99 "
                          f"{p.get('p99_us', 0):.0f} µs, {report['sessions_per_s']:.0f} sessions/s, "
                          f"failed {report['sessions_failed']}", flush=True)
                    self.stop_popgate()

    def start_redis(self):
        """A redis-server on loopback with a password, nothing saved: the shared state store."""
        port = free_port()
        directory = os.path.join(self.work, "redis")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "password"), "w") as f:
            f.write(PASSWORD)
        log = open(os.path.join(directory, "redis.log"), "a")
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass",
                                 PASSWORD, "--save", "", "--appendonly", "no", "--dir", directory],
                                stdout=log, stderr=log)
        if not wait_for_port(port, 20, proc):
            raise RuntimeError("redis-server did not start: see redis/redis.log")
        return proc, port, os.path.join(directory, "password")

    def store_runs(self):
        """The state store: popgate with --state-store local vs redis:// on loopback (maildrop leases and
        failed-login counts in Redis), interleaved, each on a fresh process with upstream session reuse
        off, so every login takes and gives back a lease: login latency (connect, USER, PASS, STAT,
        QUIT) at c=1 and c=16, and the mail loop's msg/s at c=16."""
        a = self.args
        self.stop_popgate()
        redis, port, password_file = self.start_redis()
        stores = {"local": ("--state-store", "local"),
                  "redis": ("--state-store", f"redis://127.0.0.1:{port}", "--state-store-password-file", password_file)}
        try:
            for r in range(a.rounds):
                for name in (("local", "redis") if r % 2 == 0 else ("redis", "local")):
                    target = self.start_popgate(workers=1, extra=("--upstream-reuse-time", "0", *stores[name]))
                    runs = self.results["store"].setdefault(name, {})
                    for c in (1, 16):
                        common = ("--port", target.port, "--user-prefix", "bench", "--users", 64, "--concurrency", c)
                        self.loadgen("--mode", "login", *common, "--sessions", 64, "--duration", 60)  # warm-up
                        report = self.loadgen("--mode", "login", *common, "--duration", a.duration)
                        runs.setdefault(f"login_c{c}", []).append(report)
                        p = report["latency"].get("PASS", {})
                        print(f"  {name:5} login c={c:<3} PASS p50 {p.get('p50_us', 0):.0f} µs p99 "
                              f"{p.get('p99_us', 0):.0f} µs, {report['sessions_per_s']:.0f} sessions/s, "
                              f"failed {report['sessions_failed']}", flush=True)
                    print(f"  {name:5}", end="", flush=True)
                    self.loop_run(target, 16, a.duration, into=runs.setdefault("loop_c16", []))
                    self.stop_popgate()
        finally:
            redis.terminate()
            redis.wait(15)

    def idle_run(self, target, sessions):
        # Let sessions of the previous scenario go away before the baseline.
        time.sleep(1)
        before = procstat.memory_kib(target.pid)
        cmd = [self.args.loadgen, "--mode", "idle", "--port", str(target.port), "--user-prefix", "idle",
               "--users", str(sessions), "--sessions", str(sessions), "--concurrency", "64",
               "--hold", "600", "--password", PASSWORD]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline().split()
        logged_in = int(first[1]) if len(first) == 2 and first[0] == "all_logged_in" else 0
        time.sleep(1)  # let the last logins' allocations settle
        after = procstat.memory_kib(target.pid)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": err}
        n = max(logged_in, 1)
        report.update({
            "sessions": sessions, "logged_in": logged_in, "before_kib": before, "after_kib": after,
            "rss_per_session_kib": (after["rss"] - before["rss"]) / n,
            "pss_per_session_kib": (after["pss"] - before["pss"]) / n,
        })
        # The peer's pop3 processes (one a session) take a while to exit; what comes next is
        # measured on a quiet machine.
        quiet_by = time.monotonic() + 120
        while len(procstat.tree(target.pid)) > before["processes"] + 8 and time.monotonic() < quiet_by:
            time.sleep(0.5)
        self.results["idle"].setdefault(target.name, {})[str(sessions)] = report
        print(f"  idle {sessions:>6} {target.name:8} logged in {logged_in:>6}  "
              f"RSS/session {report['rss_per_session_kib']:8.1f} KiB  PSS/session "
              f"{report['pss_per_session_kib']:8.1f} KiB  ({after['processes']} processes)", flush=True)

    def big_run(self, target):
        """RETR of the 100 MB message, twice in a row: the first warms up, the second is measured (the
        first transfer after a pause runs at 60-70% of the steady rate on this 2-core VM, for every
        target, while the scheduler places the busy processes). The target's summed RSS is sampled
        every 10 ms across both, from before the first, so the memory rise is not flattered."""
        time.sleep(0.5)
        before = procstat.memory_kib(target.pid)["rss"]
        hwm_reset = target.name == "popgate" and procstat.reset_peak_rss(target.pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], procstat.memory_kib(target.pid)["rss"])
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            mode = "imap-fetch-one" if target.name == "imap-raw" else "retr-one"
            first = self.loadgen("--mode", mode, "--port", target.port, "--user-prefix", "big")
            report = self.loadgen("--mode", mode, "--port", target.port, "--user-prefix", "big")
            report["first_mb_per_s"] = first["mb_per_s"]
        finally:
            done.set()
            sampler.join()
        report["rss_before_kib"] = before
        report["sampled_peak_rise_kib"] = peak[0] - before
        if hwm_reset:
            report["hwm_rise_kib"] = procstat.peak_rss_kib(target.pid) - before
        self.results["big"].setdefault(target.name, []).append(report)
        print(f"  big  {target.name:8} {report['mb_per_s']:8.1f} MB/s (first {first['mb_per_s']:.0f})  peak RSS rise "
              f"{report['sampled_peak_rise_kib'] / 1024:7.1f} MiB"
              + (f" (VmHWM {report['hwm_rise_kib'] / 1024:.1f} MiB)" if hwm_reset else ""), flush=True)

    def profile_popgate(self, popgate, path):
        """perf record (call graphs, software cpu-clock) of popgate during a 5 s loop at c=64."""
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-o", path, "-p", str(popgate.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        self.loop_run(popgate, 64, 5)
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        print(f"perf data: {path}", flush=True)

    # --- the whole run -------------------------------------------------------------------------
    def run(self):
        a = self.args
        self.work = tempfile.mkdtemp(prefix="popgate-bench-", dir=a.workdir)
        os.chmod(self.work, 0o755)
        started = time.monotonic()
        try:
            print(f"setting up in {self.work}: {a.users} mail users, {a.idle_max} idle users", flush=True)
            mean_octets = mailstore.populate(self.work, a.users, a.idle_max, BIG_SIZE)
            self.results["mailbox_mean_octets"] = mean_octets
            self.results["messages_per_user"] = mailstore.MESSAGES_PER_USER
            self.upstream = dovecot_instances.start_upstream(os.path.join(self.work, "upstream"),
                                                             os.path.join(self.work, "home"), PASSWORD)
            self.peer = dovecot_instances.start_gateway_peer(os.path.join(self.work, "peer"),
                                                             self.upstream.imap_port)
            popgate = self.start_popgate()
            peer = Target("peer", self.peer.pop3_port, self.peer.pid)
            native = Target("native", self.upstream.pop3_port, self.upstream.pid)
            pair = [popgate, peer]
            print(f"setup done in {time.monotonic() - started:.0f}s; warming up", flush=True)
            # Dovecot's indexes for every user are built once, before anything is measured.
            self.loadgen("--mode", "loop", "--port", native.port, "--user-prefix", "bench", "--users", a.users,
                         "--concurrency", 16, "--duration", 600, "--sessions", a.users)
            for t in pair:
                self.loadgen("--mode", "loop", "--port", t.port, "--user-prefix", "bench", "--users", a.users,
                             "--concurrency", 16, "--duration", 1)
            self.results["loop"] = {}
            print("throughput (interleaved A B A B)", flush=True)
            if a.perf:
                self.profile_popgate(popgate, a.perf)
            for c in a.concurrency if "loop" in a.scenarios else []:
                for r in range(a.rounds):
                    for t in (pair if r % 2 == 0 else pair[::-1]):
                        self.loop_run(t, c, a.duration)
                self.loop_run(native, c, a.duration)
            if "snapshot" in a.scenarios:
                print("snapshot commands at c=64, paced (interleaved)", flush=True)
                self.snapshot_runs([popgate, peer, native])
            if "scaling" in a.scenarios:
                print("scaling: --workers 1 vs --workers 2 at c=64 (interleaved)", flush=True)
                self.scaling_runs()
            if "login" in a.scenarios:
                print("login latency: upstream session reuse on vs off (interleaved)", flush=True)
                self.login_runs()
            if "store" in a.scenarios:
                print("state store: local vs Redis on loopback (interleaved)", flush=True)
                self.store_runs()
            print("idle sessions", flush=True)
            # Memory is measured on a fresh popgate: a heap already grown by the loop runs would hide
            # what the sessions cost.
            popgate = self.restart_popgate()
            pair = [popgate, peer]
            for n in a.idle if "idle" in a.scenarios else []:
                for t in pair:
                    if t.name == "peer" and n > a.peer_idle_max:
                        continue
                    self.idle_run(t, n)
            print("100 MB RETR", flush=True)
            popgate = self.restart_popgate()
            raw = Target("imap-raw", self.upstream.imap_port, self.upstream.pid)
            # popgate and the raw fetch it is compared with run next to each other, in alternating
            # order, so each round gives one ratio measured under the same conditions.
            for r in range(a.big_rounds if "big" in a.scenarios else 0):
                for t in ((popgate, raw) if r % 2 == 0 else (raw, popgate)) + (peer, native):
                    self.big_run(t)
        finally:
            if hasattr(self, "popgate_proc"):
                self.stop_popgate()
            for d in ("peer", "upstream"):
                if hasattr(self, d):
                    getattr(self, d).stop()
        self.results["wall_seconds"] = time.monotonic() - started
        self.results["machine"] = machine_description()
        self.results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.results["quick"] = a.quick
        return self.results

    def cleanup(self):
        if not self.args.keep and hasattr(self, "work"):
            shutil.rmtree(self.work, ignore_errors=True)


def machine_description():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="short runs (under 2 minutes)")
    p.add_argument("--popgate", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--workdir", default="/dev/shm" if os.path.isdir("/dev/shm") else "/tmp",
                   help="where the mail store and instances live (default /dev/shm: no disk in the numbers)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    p.add_argument("--json", help="write the raw results here")
    p.add_argument("--markdown", help="write the table here")
    p.add_argument("--scenarios", default="loop,snapshot,scaling,login,store,idle,big",
                   help="comma-separated subset of loop,snapshot,scaling,login,store,idle,big")
    p.add_argument("--concurrency", help="comma-separated concurrencies (default 1,16,64,256)")
    p.add_argument("--perf", help="perf record popgate during a c=64 loop into this file first")
    a = p.parse_args()
    a.users = 300
    a.concurrency = [int(c) for c in (a.concurrency or "1,16,64,256").split(",")]
    a.scenarios = a.scenarios.split(",")
    if a.quick:
        a.duration, a.rounds, a.idle, a.peer_idle_max, a.big_rounds = 2, 1, [1000], 1000, 1
    else:
        a.duration, a.rounds, a.idle, a.peer_idle_max, a.big_rounds = 5, 2, [1000, 10000], 10000, 5
    a.idle_max = max(a.idle)
    if os.geteuid() != 0:
        sys.exit("run.sh must run as root: Dovecot's mail processes switch to uid 65534")
    # 10,000 sessions through a gateway need 20,000+ descriptors in one process.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    bench = Bench(a)
    try:
        results = bench.run()
        table = report.markdown(results)
        print(table, flush=True)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(table)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
