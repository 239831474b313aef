#!/usr/bin/env python3
"""Every object in deploy/kubernetes/ is valid against the Kubernetes API's own OpenAPI schemas
(npm's kubernetes-models, pinned in tests/deploy/package.json and installed next to it by
scripts/install-deps.sh): types, required fields, enums and formats, as the API server checks them.
First a self-check: copies of the real Deployment with a string `replicas` and a port without
`containerPort` must be rejected at those paths, and an unknown kind must have no schema, so that a
validator that accepts everything fails this test instead of passing it."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

from deploy_lib import Checker, arguments, load_yaml_documents

HERE = Path(__file__).resolve().parent
VALIDATOR = HERE / "kubernetes_schema.cjs"
MODELS = HERE / "node_modules" / "kubernetes-models"


def node_binary():
    """Debian's node (the nodejs package), else the first on PATH."""
    debian = Path("/usr/bin/node")
    return str(debian) if debian.exists() else shutil.which("node")


def validate(node, objects):
    """One result per object: {"errors": [...]} or {"problem": "..."}."""
    result = subprocess.run([node, str(VALIDATOR)], input=json.dumps(objects), capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{VALIDATOR.name} failed ({result.returncode}): {result.stderr.strip()}")
    results = json.loads(result.stdout)
    if len(results) != len(objects):
        raise RuntimeError(f"{VALIDATOR.name} answered {len(results)} results for {len(objects)} objects")
    return results


def broken_copies(deployment):
    """(what is broken, object, the error path that must be reported) from a real Deployment."""
    string_replicas = copy.deepcopy(deployment)
    string_replicas["spec"]["replicas"] = str(deployment["spec"].get("replicas", 1))
    no_container_port = copy.deepcopy(deployment)
    no_container_port["spec"]["template"]["spec"]["containers"][0]["ports"][0].pop("containerPort")
    return [
        ("a string replicas", string_replicas, "/spec/replicas: must be integer"),
        ("a port without containerPort", no_container_port,
         "/spec/template/spec/containers/0/ports/0: must have required property containerPort"),
    ]


def self_check(c, node, deployment):
    cases = broken_copies(deployment)
    unknown = {"apiVersion": "example.com/v1", "kind": "NoSuchKind", "metadata": {"name": "x"}}
    results = validate(node, [obj for _, obj, _ in cases] + [unknown])
    for (what, _, expected), result in zip(cases, results):
        errors = result.get("errors", [])
        c.check(any(e.startswith(expected) for e in errors),
                f"self-check: the Deployment with {what} should fail with {expected!r}, got {result}")
    c.check("problem" in results[-1], f"self-check: an unknown kind should have no schema, got {results[-1]}")


def main():
    args = arguments(__doc__)
    c = Checker("kubernetes schemas")
    node = node_binary()
    if not c.check(node, "no node on PATH (the nodejs package; run scripts/install-deps.sh)"):
        c.finish()
    if not c.check(MODELS.is_dir(), f"{MODELS} is missing: run scripts/install-deps.sh (npm ci in {HERE})"):
        c.finish()

    objects = []
    for path in sorted((args.source_dir / "deploy/kubernetes").glob("*.yaml")):
        for index, doc in enumerate(load_yaml_documents(path)):
            where = f"{path.relative_to(args.source_dir)} #{index + 1} {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
            objects.append((where, doc))
    c.check(len(objects) >= 5, f"found only {len(objects)} objects under deploy/kubernetes")

    deployments = [obj for _, obj in objects if obj.get("kind") == "Deployment"]
    if c.check(deployments, "no Deployment to build the self-check from"):
        self_check(c, node, deployments[0])

    for (where, _), result in zip(objects, validate(node, [obj for _, obj in objects])):
        if "problem" in result:
            c.fail(f"{where}: {result['problem']}")
            continue
        for error in result["errors"]:
            c.fail(f"{where}: {error}")
        if not result["errors"]:
            print(f"  valid: {where}")

    c.finish()


if __name__ == "__main__":
    main()
