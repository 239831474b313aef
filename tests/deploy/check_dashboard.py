#!/usr/bin/env python3
"""The Grafana dashboard: valid JSON, panels with unique ids laid out on the 24-column grid
without overlaps, every query on the dashboard's data source variable, every query valid PromQL
(promtool parses them as recording rules), and the panels the operations issue asks for."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from deploy_lib import Checker, arguments, load_json

# Grafana's variables, replaced by what they expand to, so that promtool can parse the query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}

# What the dashboard must show: (what, a regular expression one of its queries must match).
REQUIRED_QUERIES = [
    ("active sessions", r"popgate_sessions_active"),
    ("commands per second", r"rate\(popgate_commands_total"),
    ("command latency p50 by command", r"histogram_quantile\(0\.5, sum by \([^)]*command[^)]*\) \(rate\(popgate_command_duration_seconds_bucket"),
    ("command latency p99 by command", r"histogram_quantile\(0\.99, sum by \([^)]*command[^)]*\) \(rate\(popgate_command_duration_seconds_bucket"),
    ("upstream latency", r"histogram_quantile\(0\.99, .*popgate_upstream_operation_duration_seconds_bucket"),
    ("upstream errors", r"rate\(popgate_upstream_errors_total"),
    ("bytes sent", r"rate\(popgate_downstream_sent_bytes_total"),
    ("bytes received", r"rate\(popgate_downstream_received_bytes_total"),
    ("TLS handshake failures", r'popgate_tls_handshakes_total\{[^}]*result="failed"'),
]


def expand(expr, variables):
    for name, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    for name in variables:
        expr = expr.replace("${" + name + "}", ".+").replace("$" + name, ".+")
    return expr


def main():
    args = arguments(__doc__)
    c = Checker("grafana dashboard")
    dashboard = load_json(args.source_dir / "deploy/monitoring/grafana-dashboard.json")

    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    c.check(variables.get("datasource", {}).get("type") == "datasource" and
            variables["datasource"].get("query") == "prometheus",
            "no datasource variable of type prometheus: the dashboard would be tied to one Grafana's data source")
    for name in ("job", "instance"):
        c.check(name in variables, f"no ${name} variable")
    c.check(dashboard.get("uid") and dashboard.get("title"), "dashboard needs a uid and a title")

    panels = dashboard.get("panels", [])
    ids = [p.get("id") for p in panels]
    c.check(len(ids) == len(set(ids)) and None not in ids, f"panel ids are not unique: {ids}")

    # The grid: 24 columns, no two panels on the same cell.
    cells = {}
    for p in panels:
        g = p.get("gridPos") or {}
        if not c.check(all(isinstance(g.get(k), int) for k in "hwxy"), f"panel {p.get('title')!r}: bad gridPos {g}"):
            continue
        c.check(g["x"] >= 0 and g["x"] + g["w"] <= 24, f"panel {p.get('title')!r}: outside the 24 columns")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                other = cells.setdefault((x, y), p.get("title"))
                if other != p.get("title"):
                    c.fail(f"panels {other!r} and {p.get('title')!r} overlap at column {x}, row {y}")
                    break
            else:
                continue
            break

    queries = []  # (panel title, expr)
    for p in panels:
        if p.get("type") == "row":
            continue
        title = p.get("title")
        c.check(title, f"panel {p.get('id')} has no title")
        c.check(p.get("datasource", {}).get("uid") == "${datasource}",
                f"panel {title!r}: data source is not ${{datasource}}")
        targets = p.get("targets") or []
        c.check(targets, f"panel {title!r}: no query")
        refs = [t.get("refId") for t in targets]
        c.check(len(refs) == len(set(refs)), f"panel {title!r}: duplicate refIds {refs}")
        for t in targets:
            expr = t.get("expr", "")
            if c.check(expr.strip(), f"panel {title!r}: empty query"):
                queries.append((title, expr))
                for metric in re.findall(r"\bpopgate_[a-z_]+\{([^}]*)\}", expr):
                    c.check('job=~"$job"' in metric and 'instance=~"$instance"' in metric,
                            f"panel {title!r}: a selector does not filter on $job and $instance: {{{metric}}}")
                for metric in re.findall(r"\bpopgate_[a-z_]+\b(?!\{)", expr):
                    c.fail(f"panel {title!r}: {metric} without the $job/$instance selector")

    flat = [" ".join(e.split()) for _, e in queries]
    for what, pattern in REQUIRED_QUERIES:
        c.check(any(re.search(pattern, e) for e in flat), f"no panel shows {what} (a query matching {pattern})")

    # Every query parses: promtool checks them as recording rules.
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if c.check(Path(promtool).exists(), "promtool not found (Debian package prometheus)"):
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query_{i}", "expr": expand(e, variables)} for i, (_, e) in enumerate(queries)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            yaml.safe_dump(rules, f)
        try:
            result = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True, timeout=60)
            c.check(result.returncode == 0,
                    f"promtool rejects dashboard queries:\n{result.stdout}{result.stderr}")
        finally:
            Path(f.name).unlink()
        c.check(f"SUCCESS: {len(queries)} rules found" in result.stdout,
                f"promtool did not parse all {len(queries)} queries:\n{result.stdout}")

    # Template variable queries name real metrics.
    for name in ("job", "instance"):
        q = variables.get(name, {}).get("query", {})
        q = q.get("query", "") if isinstance(q, dict) else q
        c.check("popgate_build_info" in q, f"${name} should list values of popgate_build_info, not {q!r}")

    c.finish()


if __name__ == "__main__":
    main()
