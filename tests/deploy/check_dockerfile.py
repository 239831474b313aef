#!/usr/bin/env python3
"""deploy/Dockerfile, checked statically (check_image.py builds and runs it): its instructions
parse; the build stage installs the build part of scripts/install-deps.sh (and ca-certificates for
its bundle) and builds without tests; the runtime stage copies that bundle instead of installing
ca-certificates, so that nothing it installs brings OpenSSL; every package it names exists in Debian
(apt-cache show); and every shared library the built popgate needs (ldd) belongs (dpkg -S) to a
runtime-stage package or to what debian:bookworm-slim already has (apt and its dependencies)."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

from deploy_lib import Checker, arguments

INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}
# Packages of install-deps.sh that only the tests need (POPGATE_BUILD_TESTS=OFF in the image).
TEST_ONLY_BUILD_PACKAGES = {"libgtest-dev", "googletest", "libclang-rt-14-dev"}
BUILD_TOOLS = {"build-essential", "cmake", "pkg-config", "ninja-build", "node-llhttp"}
# The build stage's one package beyond the build: its /etc/ssl/certs/ca-certificates.crt is copied
# into the runtime stage, the default --upstream-ca.
CA_BUNDLE_PACKAGE = "ca-certificates"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What must not reach the runtime image: OpenSSL (popgate links BoringSSL only; Debian's
# ca-certificates depends on openssl, which brings libssl3) and any compiler.
FORBIDDEN_RUNTIME_PACKAGES = {"openssl", "libssl3", "ca-certificates", "gcc", "gcc-12", "cpp", "g++",
                              "build-essential", "clang", "clang-14"}


def parse_dockerfile(text):
    """[(line number, INSTRUCTION, arguments)], with continuation lines joined and comments dropped."""
    instructions = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        keyword, _, rest = pending.partition(" ")
        instructions.append((start, keyword.upper(), rest.strip()))
        pending = ""
    if pending:
        instructions.append((start, "<unterminated>", pending))
    return instructions


def stages(instructions):
    """[(FROM arguments, [instructions])]."""
    result = []
    for inst in instructions:
        if inst[1] == "FROM":
            result.append((inst[2], []))
        elif result:
            result[-1][1].append(inst)
    return result


def apt_installed(run_args):
    """Package names an `apt-get install` in a RUN instruction installs."""
    packages = []
    for command in re.split(r"&&|;|\|\|", run_args):
        words = shlex.split(command)
        while words and "=" in words[0]:  # DEBIAN_FRONTEND=noninteractive apt-get ...
            words = words[1:]
        if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
            after = words[words.index("install") + 1:]
            packages += [w for w in after if not w.startswith("-")]
    return packages


def exec_form(args):
    """The JSON array of CMD/ENTRYPOINT/HEALTHCHECK CMD, or None for the shell form."""
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def install_deps_packages(path):
    text = Path(path).read_text()
    body = re.search(r"packages=\((.*?)\n\)", text, re.S).group(1)
    words = []
    for line in body.splitlines():
        words += line.split("#", 1)[0].split()
    return words


def dpkg_owners(path):
    """The packages that ship `path` (usually one). Debian's merged /usr means a path ldd prints under /lib may
    be registered under /usr/lib (or the reverse), and a symlink's target under its own name."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/") or p.startswith("/lib64/"):
            candidates.append("/usr" + p)
    for p in candidates:
        result = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if result.returncode == 0:
            owners = set()
            for line in result.stdout.splitlines():
                if line.startswith("diversion by"):
                    continue
                names = line.split(": ", 1)[0]
                owners |= {n.strip().split(":")[0] for n in names.split(",")}
            return owners
    return set()


def dependency_closure(packages):
    """The packages apt would install for `packages`: Depends and Pre-Depends, recursively."""
    result = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                             "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                            capture_output=True, text=True, timeout=120)
    closure = set()
    for line in result.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        if ":" in line:  # "Depends: libc6" / "PreDepends: ..."
            _, _, line = line.partition(":")
            line = line.strip()
        line = line.strip("<>|")
        closure.add(line.split(":")[0])  # drop :any / :amd64
    return closure


def main():
    args = arguments(__doc__, popgate=True)
    c = Checker("Dockerfile")
    root = args.source_dir
    dockerfile = root / "deploy/Dockerfile"
    instructions = parse_dockerfile(dockerfile.read_text())
    for number, keyword, rest in instructions:
        c.check(keyword in INSTRUCTIONS, f"Dockerfile:{number}: unknown instruction {keyword}")
        c.check(rest, f"Dockerfile:{number}: {keyword} without arguments")

    all_stages = stages(instructions)
    if not c.check(len(all_stages) == 2, f"expected a build and a runtime stage, found {len(all_stages)}"):
        c.finish()
    (build_from, build), (runtime_from, runtime) = all_stages
    c.check(re.fullmatch(r"debian:bookworm AS build", build_from, re.I), f"build stage is FROM {build_from}")
    c.check(runtime_from == "debian:bookworm-slim", f"runtime stage is FROM {runtime_from}")

    # ---- build stage ----
    build_runs = " && ".join(rest for _, k, rest in build if k == "RUN")
    build_packages = [p for _, k, rest in build if k == "RUN" for p in apt_installed(rest)]
    listed = install_deps_packages(root / "scripts/install-deps.sh")
    wanted = [p for p in listed if (p.endswith("-dev") or p in BUILD_TOOLS) and p not in TEST_ONLY_BUILD_PACKAGES]
    wanted.append(CA_BUNDLE_PACKAGE)
    c.check(set(wanted) == set(build_packages),
            f"build stage installs {sorted(build_packages)}, but the build part of scripts/install-deps.sh and "
            f"{CA_BUNDLE_PACKAGE} are {sorted(wanted)} (missing {sorted(set(wanted) - set(build_packages))}, "
            f"extra {sorted(set(build_packages) - set(wanted))})")
    c.check("--no-install-recommends" in build_runs, "build stage: apt-get install without --no-install-recommends")
    c.check("-DPOPGATE_BUILD_TESTS=OFF" in build_runs, "build stage does not configure with -DPOPGATE_BUILD_TESTS=OFF")
    c.check("-G Ninja" in build_runs, "build stage does not use Ninja")
    c.check(re.search(r"cmake --install \S+ --prefix /usr/local", build_runs), "build stage does not install to /usr/local")

    # ---- runtime stage ----
    runtime_packages = [p for _, k, rest in runtime if k == "RUN" for p in apt_installed(rest)]
    for required in ("libuv1", "android-libboringssl", "libprometheus-cpp-core1.0"):
        c.check(required in runtime_packages, f"runtime stage does not install {required}")
    c.check(not [p for p in runtime_packages if p.endswith("-dev")], f"runtime stage installs -dev packages: {runtime_packages}")
    runtime_closure = dependency_closure(runtime_packages) if runtime_packages else set()
    c.check(not runtime_closure & FORBIDDEN_RUNTIME_PACKAGES,
            f"runtime stage installs {sorted(runtime_closure & FORBIDDEN_RUNTIME_PACKAGES)} "
            f"(with the dependencies of {runtime_packages})")
    runtime_runs = " && ".join(rest for _, k, rest in runtime if k == "RUN")
    c.check("rm -rf /var/lib/apt/lists" in runtime_runs, "runtime stage keeps the apt lists")
    c.check(re.search(r"useradd .*--uid 10001", runtime_runs), "runtime stage does not create the user with uid 10001")
    users = [rest for _, k, rest in runtime if k == "USER"]
    c.check(users and users[-1].split(":")[0] == "10001", f"runtime stage runs as {users[-1:] or 'root'}, not 10001")
    exposed = {w for _, k, rest in runtime if k == "EXPOSE" for w in rest.split()}
    c.check(exposed == {"110", "995", "9110"}, f"EXPOSE {sorted(exposed)}, expected 110 995 9110")
    entry = [exec_form(rest) for _, k, rest in runtime if k == "ENTRYPOINT"]
    c.check(entry and entry[-1] and Path(entry[-1][0]).name == "popgate",
            f"ENTRYPOINT should be popgate in exec form, got {entry}")
    cmd = [exec_form(rest) for _, k, rest in runtime if k == "CMD"]
    # The image's default config path is the one the Kubernetes manifests mount and name.
    manifests = "".join(p.read_text() for p in sorted((root / "deploy/kubernetes").glob("*.yaml")))
    c.check(cmd and cmd[-1] and cmd[-1][:1] == ["--config"] and len(cmd[-1]) == 2 and
            f'"--config", "{cmd[-1][1]}"' in manifests,
            f"CMD should be --config with the path the manifests use, got {cmd}")
    copies = [rest.split() for _, k, rest in runtime if k == "COPY"]
    c.check(any(w[0] == "--from=build" and w[-1] == (entry[-1][0] if entry and entry[-1] else None) for w in copies),
            "the ENTRYPOINT binary is not copied from the build stage")
    c.check(["--from=build", CA_BUNDLE, CA_BUNDLE] in copies,
            f"the runtime stage does not copy {CA_BUNDLE} from the build stage")
    healthchecks = [rest for _, k, rest in runtime if k == "HEALTHCHECK"]
    if c.check(len(healthchecks) == 1, "runtime stage needs one HEALTHCHECK"):
        cmd = exec_form(healthchecks[0].split(" CMD ", 1)[-1])
        c.check(cmd, f"HEALTHCHECK CMD should be exec form: {healthchecks[0]}")
        if cmd:
            # The command must be something the image has: a file COPY'd in from the context.
            installed = {w[-1]: w[-2] for w in copies if not w[0].startswith("--from")}
            target = next((dst for dst, src in installed.items() if Path(dst).name == cmd[0] or dst == cmd[0]), None)
            c.check(target, f"HEALTHCHECK runs {cmd[0]}, which no COPY puts into the image")
            if target:
                source = root / installed[target]
                c.check(source.exists(), f"COPY source {installed[target]} does not exist")
                interpreter = source.read_text().splitlines()[0] if source.exists() else ""
                c.check(interpreter in ("#!/bin/bash", "#!/bin/sh"),
                        f"{installed[target]} needs {interpreter!r}; bookworm-slim has /bin/bash and /bin/sh only")
                c.check(os.access(source, os.X_OK), f"{installed[target]} is not executable")
    # Every COPY source from the context exists and is not excluded by the .dockerignore.
    ignore = (root / "deploy/Dockerfile.dockerignore").read_text().split("\n")
    ignored = {line.strip() for line in ignore if line.strip() and not line.startswith("#")}
    for _, k, rest in build + runtime:
        if k != "COPY" or rest.startswith("--from"):
            continue
        for src in rest.split()[:-1]:
            c.check((root / src).exists(), f"COPY {src}: not in the repository")
            c.check(src.split("/")[0] not in ignored, f"COPY {src}: excluded by Dockerfile.dockerignore")
    for needed in ("CMakeLists.txt", "protocol", "gateway", "adapters"):
        c.check(needed not in ignored, f"Dockerfile.dockerignore excludes {needed}, which the build needs")
    c.check("build" in ignored and ".git" in ignored, "Dockerfile.dockerignore should keep build trees and .git out")

    # ---- the packages exist in Debian (this machine is Debian 12, bookworm, like the image) ----
    os_release = Path("/etc/os-release").read_text()
    c.check('VERSION_CODENAME=bookworm' in os_release,
            "apt-cache answers for this machine's release, which is not bookworm: the check would not apply")
    named = sorted(set(build_packages + runtime_packages))
    result = subprocess.run(["apt-cache", "show", "--no-all-versions", *named], capture_output=True, text=True,
                            timeout=120)
    shown = set(re.findall(r"^Package: (\S+)$", result.stdout, re.M))
    for package in named:
        c.check(package in shown, f"apt-cache show {package}: no such package in Debian (run apt-get update?)")

    # ---- every shared library of the built binary comes with the runtime packages ----
    # bookworm-slim is a minbase Debian: the Essential and Priority required packages, apt among
    # them. What apt needs (libc6, libstdc++6, libgcc-s1, ...) is therefore there.
    available = dependency_closure(runtime_packages + ["apt", "base-files", "bash", "coreutils"])
    c.check({"libc6", "libstdc++6"} <= available, "apt-cache depends found no libc6/libstdc++6: is apt's cache there?")
    ldd = subprocess.run(["ldd", str(args.popgate)], capture_output=True, text=True)
    if c.check(ldd.returncode == 0, f"ldd {args.popgate} failed: {ldd.stderr}"):
        libraries = []
        for line in ldd.stdout.splitlines():
            line = line.strip()
            if "not found" in line:
                c.fail(f"ldd: {line}")
            m = re.match(r"\S+ => (/\S+)", line) or re.match(r"(/\S+) \(0x", line)
            if m:
                libraries.append(m.group(1))
        c.check(any("libssl.so" in lib for lib in libraries), f"ldd lists no libssl: {ldd.stdout}")
        for library in libraries:
            owners = dpkg_owners(library)
            if not c.check(owners, f"{library} (needed by popgate) belongs to no Debian package"):
                continue
            c.check(owners & (set(runtime_packages) | available),
                    f"{library} comes from {', '.join(sorted(owners))}, which the runtime stage does not install "
                    f"(runtime packages: {runtime_packages})")
            print(f"  {library}: {', '.join(sorted(owners))}")

    c.finish()


if __name__ == "__main__":
    main()
