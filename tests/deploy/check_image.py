#!/usr/bin/env python3
"""deploy/Dockerfile, built and run without a Docker engine (buildah_lib.py): the image builds from
the repository, unchanged; `popgate --version` runs as the image's user 10001 and ldd finds every
library; popgate, started inside with the image's own ENTRYPOINT and CMD and a placed config file,
serves POP3 on loopback in front of a Dovecot started outside, and Python's poplib receives every
message byte for byte as stored and as Dovecot's own POP3 sends it; the image's HEALTHCHECK command
answers 0 while popgate runs and non-zero once it has stopped; nothing under the root file system
was written meanwhile; and the image holds no OpenSSL (libssl.so.3, libcrypto.so.3, openssl) and no
compiler. Prints the build time and the image's size.

Base images: debian:bookworm and debian:bookworm-slim are bootstrapped from Debian's packages and
imported when missing, and kept for the next run. The image under test has a tag of its own and is
removed at the end, with its containers, whatever happened."""

import base64
import json
import os
import poplib
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import buildah_lib
from buildah_lib import Container, buildah
from deploy_lib import Checker, arguments, clean_environment, free_port, wait_for_port
from dovecot_lib import Dovecot

USER = "10001:10001"
PASSWORD = "image-test-secret"
# Files buildah itself writes into a container at each `buildah run`.
BUILDAH_MANAGED = {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}
FORBIDDEN_FILES = re.compile(r"^(libssl\.so\.3|libcrypto\.so\.3)(\..*)?$")
COMPILER = re.compile(r"^((x86_64-linux-gnu-)?(gcc|g\+\+|cpp)|cc|c\+\+|clang|clang\+\+)(-[0-9.]+)?$")
FORBIDDEN_PACKAGES = re.compile(r"^(openssl|libssl3|gcc(-[0-9]+)?|g\+\+(-[0-9]+)?|cpp(-[0-9]+)?|clang(-[0-9]+)?|"
                                r"binutils|build-essential|ca-certificates)$")
PATH_DIRS = ("usr/local/sbin", "usr/local/bin", "usr/sbin", "usr/bin", "sbin", "bin")
# Below ctest's TIMEOUT for this test (tests/CMakeLists.txt), so that the cleanup still runs.
BUILD_TIMEOUT = 2400


def log(message):
    print(message, flush=True)


def messages():
    """What the test mailbox holds, as delivery stores it (LF line ends): dot-stuffing at the start of
    lines and of the last line, 8-bit text, a line close to poplib's limit, and 2 MB of base64."""
    big = base64.encodebytes(random.Random(14).randbytes(1_500_000)).decode()
    bodies = [
        "Subject: one\n\nHello from the image.\n",
        "Subject: dots\n\n.leading dot\n..two dots\n.\n. \nend\n.\n",
        "Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\nGrüße, ça va? Дякую. " + "x" * 1900 + "\n",
        "Subject: big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + big,
    ]
    return [body.encode() for body in bodies]


def as_pop3(message):
    """The octets RETR delivers for a stored message, dot-stuffing undone: CRLF line ends."""
    return message.replace(b"\n", b"\r\n")


def fetch_all(port, user):
    """[(size from LIST, UIDL, RETR octets)] over POP3 with poplib; QUIT without deleting."""
    client = poplib.POP3("127.0.0.1", port, timeout=30)
    try:
        client.user(user)
        client.pass_(PASSWORD)
        _, listing, _ = client.list()
        _, uidls, _ = client.uidl()
        uidl = dict(line.decode().split() for line in uidls)
        result = []
        for line in listing:
            number, size = line.decode().split()
            _, lines, _ = client.retr(int(number))
            result.append((int(size), uidl[number], b"".join(l + b"\r\n" for l in lines)))
        return result
    finally:
        client.quit()


def popgate_processes(session):
    """(pid, uids) of every process named popgate in the session start_new_session made."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session or (entry / "comm").read_text().strip() != "popgate":
                continue
            uids = next(l for l in (entry / "status").read_text().splitlines() if l.startswith("Uid:"))
            found.append((int(entry.name), uids.split()[1:]))
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return found


def written_files(rootfs, marker):
    """Paths under the container's root written after `marker` (buildah's own files aside)."""
    result = subprocess.run(["find", str(rootfs), "-xdev", "-newer", str(marker), "!", "-type", "d"],
                            capture_output=True, text=True, timeout=120)
    paths = ["/" + os.path.relpath(p, rootfs) for p in result.stdout.splitlines()]
    return sorted(p for p in paths if p not in BUILDAH_MANAGED)


def build(c, source_dir, tag, work):
    log(f"building {tag} from deploy/Dockerfile")
    started = time.monotonic()
    build_log = work / "build.log"
    with open(build_log, "w") as out:
        process = subprocess.Popen(
            ["buildah", *buildah_lib.STORAGE, "bud", "--isolation", "chroot", "--network", "host",
             # docker format: OCI image configs have no HEALTHCHECK, buildah would drop it
             "--format", "docker", "--pull-never", "--layers=false", "--force-rm",
             "--ignorefile", str(source_dir / "deploy/Dockerfile.dockerignore"),
             "-f", str(source_dir / "deploy/Dockerfile"), "-t", tag, str(source_dir)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = process.wait(timeout=BUILD_TIMEOUT)
        except BaseException:
            # Too slow, or the test is being stopped: SIGTERM lets buildah remove its containers.
            Container.stop(process, timeout=60)
            raise
    log(f"build: {time.monotonic() - started:.0f} s, exit {status}")
    return c.check(status == 0, f"buildah bud exited {status}; the end of its output:\n"
                                f"{build_log.read_text(errors='replace')[-6000:]}")


def check_config(c, image):
    """The image's user, ENTRYPOINT + CMD and HEALTHCHECK command, from its configuration; None if
    they are not what the rest of the test can run."""
    config = image["Docker"]["config"]
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    health = (config.get("Healthcheck") or {}).get("Test") or []
    usable = [
        c.check(config.get("User") == USER, f"image user is {config.get('User')!r}, expected {USER}"),
        c.check(len(command) == 3 and command[1] == "--config", f"ENTRYPOINT + CMD is {command}"),
        c.check(health[:1] == ["CMD"] and len(health) >= 2, f"HEALTHCHECK is {health}, expected an exec-form CMD"),
    ]
    return (config.get("User"), command, health[1:]) if all(usable) else None


def check_binary(c, container, user, entrypoint):
    code, out, err = container.run([entrypoint, "--version"], user)
    c.check(code == 0 and out.startswith("popgate "), f"popgate --version as {user}: exit {code}, {out!r} {err!r}")
    log(f"  {out.strip()} (as {user})")
    code, out, err = container.run(["ldd", entrypoint], user)
    if c.check(code == 0, f"ldd {entrypoint} exited {code}: {err}"):
        c.check("not found" not in out, f"ldd in the image: a library is missing:\n{out}")
        c.check("android/libssl.so.0" in out, f"ldd in the image lists no BoringSSL libssl.so.0:\n{out}")
        c.check(not re.search(r"lib(ssl|crypto)\.so\.3", out), f"ldd in the image lists OpenSSL:\n{out}")
    passwd = (container.rootfs / "etc/passwd").read_text()
    c.check(re.search(r"^popgate:x:10001:10001:", passwd, re.M), "no popgate user with uid/gid 10001 in /etc/passwd")


def check_contents(c, rootfs):
    """No OpenSSL and no compiler, by file name and by dpkg's database; the CA bundle is there."""
    for directory, _, files in os.walk(rootfs):
        for name in files:
            if FORBIDDEN_FILES.match(name):
                c.fail(f"OpenSSL in the image: /{os.path.relpath(os.path.join(directory, name), rootfs)}")
    for directory in PATH_DIRS:
        path = rootfs / directory
        if path.is_symlink() or not path.is_dir():
            continue  # merged /usr: /bin -> usr/bin
        for name in os.listdir(path):
            c.check(name != "openssl", f"/{directory}/openssl is in the image")
            c.check(not COMPILER.match(name), f"a compiler is in the image: /{directory}/{name}")
    packages = subprocess.run(["dpkg-query", f"--admindir={rootfs}/var/lib/dpkg", "-W", "-f", "${Package}\\n"],
                              capture_output=True, text=True, timeout=60)
    if c.check(packages.returncode == 0 and packages.stdout, f"dpkg-query in the image: {packages.stderr}"):
        forbidden = sorted(p for p in packages.stdout.split() if FORBIDDEN_PACKAGES.match(p))
        c.check(not forbidden, f"the image has the packages {forbidden}")
    bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
    certificates = bundle.read_text().count("BEGIN CERTIFICATE") if bundle.is_file() else 0
    c.check(certificates > 100, f"/etc/ssl/certs/ca-certificates.crt holds {certificates} certificates")


def check_serving(c, container, user, command, healthcheck, work):
    """popgate from the image in front of a Dovecot outside; poplib on both; healthcheck; writes."""
    stored = messages()
    with Dovecot() as dovecot:
        dovecot.add_user("alice", PASSWORD)
        for message in stored:
            dovecot.deliver("alice", message)
        dovecot.start()

        pop3_port, admin_port = free_port(), free_port()
        config_path = container.rootfs / command[2].lstrip("/")
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps({
            "listen": [f"127.0.0.1:{pop3_port}"],
            "upstream": f"imap://127.0.0.1:{dovecot.imap_port}",
            "admin": f"127.0.0.1:{admin_port}",
            "auth_failure_delay": 0,
            "drain_timeout": 5,
        }, indent=2) + "\n")
        config_path.chmod(0o644)
        # Everything the test places is older than the marker; what popgate writes would be newer.
        marker = work / "marker"
        marker.write_text("")

        popgate_log = work / "popgate.log"
        with open(popgate_log, "wb") as out:
            process = container.start(command, user, out)
        try:
            up = wait_for_port(pop3_port, 30, process) and wait_for_port(admin_port, 30, process)
            if not c.check(up, f"popgate in the image did not listen; its log:\n{popgate_log.read_text(errors='replace')}"):
                return
            running = popgate_processes(process.pid)
            c.check(running and all(uids == ["10001"] * 4 for _, uids in running),
                    f"popgate processes and their uids (real, effective, saved, fs): {running}")
            log(f"  popgate serving from the image: pid and uids {running}")

            oracle = fetch_all(dovecot.pop3_port, "alice")
            served = fetch_all(pop3_port, "alice")
            c.check(len(served) == len(stored), f"popgate listed {len(served)} messages, {len(stored)} were stored")
            for number, (message, mine, theirs) in enumerate(zip(stored, served, oracle), 1):
                c.check(mine[2] == as_pop3(message), f"message {number}: RETR differs from what was stored "
                                                     f"({len(mine[2])} octets, expected {len(as_pop3(message))})")
                c.check(mine == theirs, f"message {number}: popgate's (LIST, UIDL, RETR) differ from Dovecot's POP3")
                c.check(mine[0] == len(mine[2]), f"message {number}: LIST says {mine[0]}, RETR sent {len(mine[2])}")
            log(f"  poplib: {len(served)} messages, {sum(len(m[2]) for m in served)} octets, as stored and as "
                "Dovecot's POP3 sends them")

            code, out, err = container.run([*healthcheck, f"127.0.0.1:{admin_port}"], user, timeout=30)
            c.check(code == 0, f"{healthcheck} while popgate runs exited {code}, expected 0: {out} {err}")

            # As `docker stop` does: SIGTERM to popgate itself (to buildah too, it would kill its
            # child at once); buildah run then exits with popgate's status.
            for pid, _ in running:
                os.kill(pid, signal.SIGTERM)
            try:
                status = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                status = "still running 30 s after SIGTERM"
        finally:
            Container.stop(process)  # what is left after a failure, by its process group
        c.check(status == 0, f"popgate exited {status} after SIGTERM; its log:\n{popgate_log.read_text(errors='replace')}")
        code, _, _ = container.run([*healthcheck, f"127.0.0.1:{admin_port}"], user, timeout=30)
        c.check(code != 0, f"{healthcheck} after popgate stopped exited {code}, expected non-zero")

        written = written_files(container.rootfs, marker)
        c.check(not written, f"popgate wrote to the image's root file system: {written}")


def main():
    args = arguments(__doc__)
    c = Checker("container image")
    if not c.check(os.geteuid() == 0, "the image test needs root (buildah, Dovecot)"):
        c.finish()
    # ctest's timeout and ^C: unwind, so that the image and its containers are removed.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, _: sys.exit(128 + number))
    os.environ.clear()
    os.environ.update(clean_environment())

    tag = f"localhost/popgate-image-test:{uuid.uuid4().hex[:12]}"
    created = buildah_lib.ensure_base_images(log)
    images_before, containers_before = buildah_lib.image_names(), buildah_lib.container_names()
    try:
        with tempfile.TemporaryDirectory(prefix="popgate-image-") as tmp:
            work = Path(tmp)
            configured = build(c, args.source_dir, tag, work) and check_config(c, buildah_lib.inspect_image(tag))
            if configured:
                user, command, healthcheck = configured
                with Container(tag) as container:
                    check_binary(c, container, user, command[0])
                    check_contents(c, container.rootfs)
                    check_serving(c, container, user, command, healthcheck, work)
                log(f"image size: {buildah_lib.image_size(tag) / 1e6:.1f} MB (uncompressed layers)")
    finally:
        buildah("rmi", "--force", tag, check=False)
    c.check(buildah_lib.image_names() == images_before, f"images left behind: "
            f"{sorted(set(buildah_lib.image_names()) - set(images_before))}")
    c.check(buildah_lib.container_names() == containers_before, "containers left behind: "
            f"{sorted(set(buildah_lib.container_names()) - set(containers_before))}")
    if created:
        log(f"created and kept the base images {created}")
    c.finish()


if __name__ == "__main__":
    main()
