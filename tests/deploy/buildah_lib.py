"""OCI images without a Docker engine, as root on Debian: base images bootstrapped from Debian's own
packages (mmdebstrap, imported with podman), images built with `buildah bud`, and commands run in a
container with `buildah run` (chroot isolation, the host's network). Every call uses the vfs storage
driver: no overlay mounts are needed, and images live in /var/lib/containers."""

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

STORAGE = ["--storage-driver", "vfs"]
# Like the official images' configuration (podman import leaves it empty).
IMPORT_CHANGES = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["bash"]']
# debian:bookworm-slim is bookworm without what the official image's /etc/dpkg/dpkg.cfg.d/docker
# excludes: documentation but the copyright files, man pages, locales, info. The same lines end up
# in the image's dpkg configuration, so what its own apt-get installs is slimmed the same way.
SLIM_DPKG_OPTIONS = [
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/groff/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/linda/*",
    "path-exclude=/usr/share/lintian/overrides/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/man/*",
]
BASE_IMAGES = {
    "docker.io/library/debian:bookworm": [],
    "docker.io/library/debian:bookworm-slim": SLIM_DPKG_OPTIONS,
}
# This machine's Debian sources (deb822), which become the images' own: their apt-get reaches the
# same mirror.
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# About two minutes here; check_image.py's budget (tests/CMakeLists.txt) counts on at most this.
BOOTSTRAP_TIMEOUT = 600


def run(argv, timeout, check=True, **kwargs):
    """subprocess.run with text output captured; raises with stderr on failure when `check`."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-4000:]}")
    return result


def buildah(*args, timeout=120, check=True):
    return run(["buildah", *STORAGE, *args], timeout=timeout, check=check)


def image_exists(name):
    return buildah("inspect", "--type", "image", name, check=False).returncode == 0


def image_names():
    """Every name of every image in the store, to compare before and after a test."""
    images = json.loads(buildah("images", "--all", "--json").stdout or "null") or []
    return sorted(name for image in images for name in (image.get("names") or [image["id"]]))


def container_names():
    containers = json.loads(buildah("containers", "--all", "--json").stdout or "null") or []
    return sorted(c["containername"] for c in containers)


def ensure_base_images(log):
    """Bootstraps and imports the base images that are missing; keeps those already there. Returns the
    names it created. Both bootstraps run at once (they wait on the mirror more than on the CPU)."""
    missing = [name for name in BASE_IMAGES if not image_exists(name)]
    if not missing:
        return []
    with tempfile.TemporaryDirectory(prefix="popgate-base-", dir="/var/tmp") as tmp:
        jobs = []
        for name in missing:
            tarball = Path(tmp) / (name.rsplit(":", 1)[1] + ".tar")
            argv = ["mmdebstrap", "--variant=minbase", "--quiet",
                    # merged /usr by symlinks as in the official images, without the usrmerge package
                    # (and the perl it would bring)
                    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
                    *[f"--dpkgopt={option}" for option in BASE_IMAGES[name]],
                    "bookworm", str(tarball)]
            if APT_SOURCES.exists():
                argv.append(str(APT_SOURCES))
            log(f"bootstrapping {name}: {' '.join(argv)}")
            jobs.append((name, tarball, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                         stderr=subprocess.STDOUT, text=True)))
        failures = []
        for name, tarball, process in jobs:
            try:
                output, _ = process.communicate(timeout=BOOTSTRAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            if process.returncode != 0:
                failures.append(f"mmdebstrap for {name} exited {process.returncode}: {output[-4000:]}")
        if failures:
            raise RuntimeError("\n".join(failures))
        for name, tarball, _ in jobs:
            changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
            run(["podman", *STORAGE, "import", "--quiet", *changes, str(tarball), name], timeout=300)
            log(f"imported {name} ({tarball.stat().st_size / 1e6:.0f} MB)")
    return missing


def image_size(name):
    """Bytes of the image's layers, uncompressed."""
    return int(run(["podman", *STORAGE, "image", "inspect", "--format", "{{.Size}}", name], timeout=60).stdout)


def inspect_image(name):
    return json.loads(buildah("inspect", "--type", "image", name).stdout)


class Container:
    """A working container of an image (`buildah from`), removed on exit. `rootfs` is its root file
    system, mounted on the host: to place a file or look at what was written."""

    def __init__(self, image):
        self.name = buildah("from", "--pull-never", image).stdout.strip()
        self.rootfs = Path(buildah("mount", self.name).stdout.strip())

    def run_argv(self, argv, user):
        return ["buildah", *STORAGE, "run", "--isolation", "chroot", "--network", "host", "--user", user,
                self.name, "--", *argv]

    def run(self, argv, user, timeout=120):
        """(exit code, stdout, stderr) of a command run inside."""
        result = subprocess.run(self.run_argv(argv, user), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        return result.returncode, result.stdout, result.stderr

    def start(self, argv, user, stderr):
        """A long-running command inside, in a process group of its own (stop it with stop())."""
        return subprocess.Popen(self.run_argv(argv, user), stdin=subprocess.DEVNULL, stdout=stderr,
                                stderr=stderr, start_new_session=True)

    @staticmethod
    def stop(process, timeout=20):
        """SIGTERM to the process group start() made (buildah and what it runs), SIGKILL after
        `timeout`. Returns the exit status."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def remove(self):
        if self.name:
            buildah("umount", self.name, check=False)
            buildah("rm", self.name, check=False)
            self.name = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
