#!/usr/bin/env python3
"""Every YAML and JSON file under deploy/ parses (duplicate keys are errors), and every
Kubernetes object has apiVersion, kind and a valid metadata.name."""

import json
import re

from deploy_lib import Checker, arguments, load_json, load_yaml_documents

DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Files under deploy/ that are not Kubernetes objects.
NOT_KUBERNETES = {"deploy/monitoring/rules.yml", "deploy/monitoring/grafana-dashboard.json",
                  "deploy/example-config.json"}


def main():
    args = arguments(__doc__)
    c = Checker("deploy files")
    deploy = args.source_dir / "deploy"
    yaml_files = sorted(p for p in deploy.rglob("*") if p.suffix in (".yaml", ".yml"))
    json_files = sorted(deploy.rglob("*.json"))
    c.check(len(yaml_files) >= 9, f"expected at least 9 YAML files under deploy/, found {len(yaml_files)}")
    c.check(len(json_files) >= 2, f"expected at least 2 JSON files under deploy/, found {len(json_files)}")

    for path in yaml_files:
        rel = str(path.relative_to(args.source_dir))
        try:
            docs = load_yaml_documents(path)
        except Exception as e:  # noqa: BLE001 - any parse error is the finding
            c.fail(f"{rel}: not valid YAML: {e}")
            continue
        c.check(docs, f"{rel}: no YAML document in it")
        if rel in NOT_KUBERNETES:
            continue
        for i, doc in enumerate(docs):
            where = f"{rel} document {i + 1}"
            if not c.check(isinstance(doc, dict), f"{where}: not a mapping"):
                continue
            c.check(isinstance(doc.get("apiVersion"), str) and doc["apiVersion"],
                    f"{where}: no apiVersion")
            c.check(isinstance(doc.get("kind"), str) and doc["kind"], f"{where}: no kind")
            name = (doc.get("metadata") or {}).get("name")
            if c.check(isinstance(name, str) and name, f"{where}: no metadata.name"):
                c.check(len(name) <= 253 and DNS_1123_SUBDOMAIN.match(name),
                        f"{where}: metadata.name {name!r} is not a DNS-1123 name")
            for key, value in ((doc.get("metadata") or {}).get("labels") or {}).items():
                c.check(isinstance(value, str), f"{where}: label {key} is not a string: {value!r}")
            # A ConfigMap holding popgate's settings must hold valid JSON.
            if doc.get("kind") == "ConfigMap":
                for key, value in (doc.get("data") or {}).items():
                    if key.endswith(".json"):
                        try:
                            json.loads(value)
                        except ValueError as e:
                            c.fail(f"{where}: data.{key} is not valid JSON: {e}")

    for path in json_files:
        rel = str(path.relative_to(args.source_dir))
        try:
            load_json(path)
            c.check(True, "")
        except ValueError as e:
            c.fail(f"{rel}: not valid JSON: {e}")

    c.finish()


if __name__ == "__main__":
    main()
