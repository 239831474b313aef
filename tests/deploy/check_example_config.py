#!/usr/bin/env python3
"""deploy/example-config.json sets every option of popgate's option table (gateway/config/config.cc),
deploy/example-config.md explains each one with its command-line and environment spellings, and
popgate --check-config accepts the example and the ConfigMaps' popgate.json (with the certificate
paths pointed at a throw-away certificate), and refuses a file with an unknown field."""

import json
import re
import subprocess
import tempfile
from pathlib import Path

from deploy_lib import Checker, arguments, clean_environment, load_json, load_yaml_documents

# A row: {"name", "key", Slot{...}, ...}; a Flag slot is a flag, an Addresses slot a list.
OPTION = re.compile(r'\{"([a-z][a-z-]*)",\s*"([a-z][a-z_]*)",\s*([A-Z][A-Za-z]*)\{')
SLOT_KINDS = {"Flag": "Flag", "Addresses": "List"}


def option_table(config_cc):
    """[(cli name, json name, kind)] from kOptions in gateway/config/config.cc."""
    text = Path(config_cc).read_text()
    table = text[text.index("const Option kOptions[]"):]
    table = table[: table.index("\n};")]
    return [(cli, key, SLOT_KINDS.get(slot, "Value")) for cli, key, slot in OPTION.findall(table)]


def environment_name(cli):
    return "POPGATE_" + cli.upper().replace("-", "_")


def make_certificate(directory):
    cert, key = directory / "tls.crt", directory / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=popgate.test", "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def example_accounts(source_dir, directory):
    """deploy/example-accounts.json with its secret files made (popgate reads them at load)."""
    accounts = load_json(source_dir / "deploy/example-accounts.json")
    for name, identity in accounts["identities"].items():
        if "secret_file" in identity:
            secret = directory / f"secret-{name}"
            secret.write_text("example secret\n")
            identity["secret_file"] = str(secret)
    path = directory / "accounts.json"
    path.write_text(json.dumps(accounts))
    return path


def check_config(binary, config, directory, name):
    path = directory / f"{name}.json"
    path.write_text(json.dumps(config))
    # The example accounts file's secret_env.
    env = dict(clean_environment(), ARCHIVE_PASSWORD="example secret")
    return subprocess.run([str(binary), "--config", str(path), "--check-config"], capture_output=True, text=True,
                          timeout=30, env=env)


def main():
    args = arguments(__doc__, popgate=True)
    c = Checker("example config")
    table = option_table(args.source_dir / "gateway/config/config.cc")
    c.check(len(table) >= 25, f"found only {len(table)} options in gateway/config/config.cc: has the table changed shape?")
    help_text = subprocess.run([str(args.popgate), "--help"], capture_output=True, text=True, timeout=30).stdout
    example = load_json(args.source_dir / "deploy/example-config.json")
    doc = (args.source_dir / "deploy/example-config.md").read_text()

    json_names = {json_name for _, json_name, _ in table}
    c.check(set(example) <= json_names, f"example-config.json has fields popgate does not know: {sorted(set(example) - json_names)}")
    for cli, json_name, kind in table:
        c.check(f"--{cli}" in help_text, f"--{cli} is in config.cc's table but not in popgate --help: stale binary?")
        if c.check(json_name in example, f"example-config.json does not set {json_name} (--{cli})"):
            value = example[json_name]
            expected = {"Flag": (bool,), "List": (list,), "Value": (str, int, float)}[kind]
            c.check(isinstance(value, expected) and not (kind == "Value" and isinstance(value, bool)),
                    f"example-config.json: {json_name} should be {' or '.join(t.__name__ for t in expected)}, is {value!r}")
        # The explanation: a heading, the option and the environment variable.
        section = re.search(rf"^### `{re.escape(json_name)}`\n(.*?)(?=^#|\Z)", doc, re.M | re.S)
        if c.check(section, f"example-config.md has no section '### `{json_name}`'"):
            text = section.group(1)
            c.check(f"`--{cli}" in text, f"example-config.md, {json_name}: does not give the option --{cli}")
            c.check(environment_name(cli) in text,
                    f"example-config.md, {json_name}: does not give the variable {environment_name(cli)}")
            c.check(len(text.split()) >= 20, f"example-config.md, {json_name}: explanation too short")
    headings = re.findall(r"^### `([a-z_]+)`", doc, re.M)
    c.check(len(headings) == len(set(headings)), f"example-config.md repeats sections: {headings}")
    c.check(set(headings) <= json_names, f"example-config.md explains unknown fields {sorted(set(headings) - json_names)}")

    # popgate itself accepts the example and the ConfigMaps.
    with tempfile.TemporaryDirectory(prefix="popgate-deploy-config-") as tmp:
        tmp = Path(tmp)
        cert, key = make_certificate(tmp)
        configs = [("deploy/example-config.json", example)]
        for path in sorted((args.source_dir / "deploy/kubernetes").glob("*.yaml")):
            for obj in load_yaml_documents(path):
                if obj.get("kind") == "ConfigMap" and "popgate.json" in (obj.get("data") or {}):
                    configs.append((f"{path.relative_to(args.source_dir)} {obj['metadata']['name']}",
                                    json.loads(obj["data"]["popgate.json"])))
        c.check(len(configs) >= 3, f"expected the example and two ConfigMaps, found {[n for n, _ in configs]}")
        for i, (name, config) in enumerate(configs):
            config = dict(config)
            if "tls_cert" in config:
                config["tls_cert"], config["tls_key"] = str(cert), str(key)
            if "accounts_file" in config:
                config["accounts_file"] = str(example_accounts(args.source_dir, tmp))
            result = check_config(args.popgate, config, tmp, f"config{i}")
            c.check(result.returncode == 0 and result.stdout.strip() == "configuration OK",
                    f"popgate --check-config refuses {name}: exit {result.returncode}, {result.stdout}{result.stderr}")
        # The control: --check-config does read the file.
        bad = dict(example, tls_cert=str(cert), tls_key=str(key), listen_port=110)
        result = check_config(args.popgate, bad, tmp, "unknown-field")
        c.check(result.returncode == 2 and "listen_port" in result.stderr,
                f"popgate --check-config accepted an unknown field: exit {result.returncode}, {result.stderr}")

    c.finish()


if __name__ == "__main__":
    main()
