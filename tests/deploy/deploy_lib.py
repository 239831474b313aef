"""Shared helpers for the deploy/ checks: loading the artefacts, and running popgate on loopback.

Each check_*.py is one ctest test. It prints one line per problem and exits 1 if there was any,
so a failure says every thing that is wrong at once, not only the first.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


class Checker:
    """Collects failures; `finish()` prints them and exits non-zero if there are any."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.checks = 0

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.failures.append(message)
        return condition

    def fail(self, message):
        self.check(False, message)

    def finish(self):
        for failure in self.failures:
            print(f"FAIL: {failure}")
        if self.failures:
            print(f"{self.name}: {len(self.failures)} of {self.checks} checks failed")
            sys.exit(1)
        print(f"{self.name}: all {self.checks} checks passed")
        sys.exit(0)


def arguments(description, popgate=False):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--source-dir", type=Path, default=Path(__file__).resolve().parents[2])
    # ctest passes --popgate to every check; the static ones ignore it.
    parser.add_argument("--popgate", type=Path, required=popgate, help="the popgate binary under test")
    return parser.parse_args()


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML (and kubectl) silently keep the last one."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_documents(path):
    """Every non-empty document of a (multi-document) YAML file; raises on a syntax error."""
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.load_all(f, Loader=_UniqueKeyLoader) if doc is not None]


def load_json(path):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        dups = {k for k in keys if keys.count(k) > 1}
        if dups:
            raise ValueError(f"duplicate keys {sorted(dups)}")
        return dict(pairs)

    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=no_duplicates)


def kubernetes_objects(source_dir):
    """(path, object) for every Kubernetes object under deploy/kubernetes and deploy/monitoring."""
    objects = []
    for folder in ("deploy/kubernetes", "deploy/monitoring"):
        for path in sorted((source_dir / folder).glob("*.yaml")):
            for doc in load_yaml_documents(path):
                objects.append((path.relative_to(source_dir), doc))
    return objects


def pod_templates(objects):
    """(path, owner name, pod spec, pod labels) of every workload's pod template."""
    pods = []
    for path, obj in objects:
        kind = obj.get("kind")
        if kind == "Pod":
            pods.append((path, obj["metadata"]["name"], obj.get("spec", {}),
                         obj["metadata"].get("labels", {})))
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            template = obj.get("spec", {}).get("template", {})
            pods.append((path, obj["metadata"]["name"], template.get("spec", {}),
                         template.get("metadata", {}).get("labels", {})))
    return pods


def all_containers(pod_spec):
    return list(pod_spec.get("initContainers", [])) + list(pod_spec.get("containers", []))


def is_popgate_container(container):
    image = container.get("image", "")
    return container.get("name") == "popgate" or re.search(r"(^|/)popgate(:|@|$)", image) is not None


# ---- popgate on loopback ----

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process, timeout=10):
    """SIGTERM to a child still running, SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_port(port, timeout, process=None):
    """Polls until 127.0.0.1:port accepts; False on timeout or if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def clean_environment():
    """Our environment without POPGATE_* variables: popgate reads those as settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POPGATE_")}


class Popgate:
    """popgate with --admin on a free loopback port, in front of an upstream that is not there
    (a closed loopback port): enough to serve /metrics, /healthz and /readyz. Stopped by PID."""

    def __init__(self, binary, extra_args=()):
        self.dir = tempfile.TemporaryDirectory(prefix="popgate-deploy-")
        self.stderr_path = Path(self.dir.name) / "popgate.stderr"
        last_error = ""
        for _ in range(3):
            self.pop3_port = free_port()
            self.admin_port = free_port()
            self.upstream_port = free_port()  # nothing listens there
            if len({self.pop3_port, self.admin_port, self.upstream_port}) < 3:
                continue
            argv = [str(binary), "--listen", f"127.0.0.1:{self.pop3_port}",
                    "--upstream", f"imap://127.0.0.1:{self.upstream_port}",
                    "--admin", f"127.0.0.1:{self.admin_port}", *extra_args]
            with open(self.stderr_path, "wb") as stderr:
                self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                stderr=stderr, env=clean_environment())
            if (wait_for_port(self.pop3_port, 10, self.process) and
                    wait_for_port(self.admin_port, 10, self.process)):
                return
            last_error = self.log_text()
            self.stop()
        raise RuntimeError(f"popgate did not start: {last_error}")

    def log_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        stop_process(self.process)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.dir.cleanup()


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path, with a plain socket (no proxies)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return int(status_line.split()[1]), body.decode(errors="replace")


def _dechunk(body):
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return out


# ---- metric names ----

METRIC_NAME = re.compile(r"\bpopgate_[a-z_]+[a-z]\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def base_metric_name(name, histograms=()):
    """popgate_x_bucket -> popgate_x when popgate_x is a histogram (or when `histograms` is empty)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if not histograms or base in histograms:
                return base
    return name


def parse_exposition(text):
    """{family name: (type, [(sample name, {label: value})])} from the text exposition format."""
    families = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            families.setdefault(name, [kind, []])[0] = kind
    histograms = {n for n, (k, _) in families.items() if k in ("histogram", "summary")}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            continue
        name = m.group(1)
        family = base_metric_name(name, histograms)
        labels = dict(label.findall(m.group(3) or ""))
        families.setdefault(family, ["untyped", []])[1].append((name, labels))
    return {name: (kind, samples) for name, (kind, samples) in families.items()}
