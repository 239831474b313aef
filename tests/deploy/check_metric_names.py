#!/usr/bin/env python3
"""Every popgate metric the dashboard and the alert rules use is one popgate really exports, with
the labels and label values they select on, and every metric popgate exports is on the dashboard.
The list comes from a running popgate's /metrics (--admin on a free loopback port), which creates
every label child up front, so label values can be checked too."""

import re

from deploy_lib import (Checker, Popgate, arguments, base_metric_name, http_get, load_json, load_yaml_documents,
                        parse_exposition)

# Labels Prometheus adds to every series (target labels), and le of histogram buckets.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "service", "endpoint"}
SELECTOR = re.compile(r"\b(popgate_[a-z_]+[a-z])\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def expressions(source_dir):
    """(where, PromQL) of every dashboard query and every rule."""
    found = []
    dashboard = load_json(source_dir / "deploy/monitoring/grafana-dashboard.json")
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"dashboard panel {panel['title']!r}", target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if isinstance(query, str) and "popgate_" in query:
            found.append((f"dashboard variable ${variable['name']}", query))
    for path in ("deploy/monitoring/rules.yml", "deploy/monitoring/prometheusrule.yaml"):
        doc = load_yaml_documents(source_dir / path)[0]
        groups = doc.get("groups") or doc.get("spec", {}).get("groups", [])
        for group in groups:
            for rule in group["rules"]:
                found.append((f"{path} {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return found


def literal_alternatives(regex):
    """['a', 'b'] for the regular expression 'a|b' made of plain words; None for anything else."""
    parts = regex.split("|")
    plain = re.compile(r"[A-Za-z0-9_+-]+|[0-9]+\.[0-9]+")
    return parts if all(plain.fullmatch(p) for p in parts) else None


def main():
    args = arguments(__doc__, popgate=True)
    c = Checker("metric names")
    with Popgate(args.popgate) as popgate:
        status, text = http_get(popgate.admin_port, "/metrics")
        log = popgate.log_text()
    if not c.check(status == 200, f"GET /metrics answered {status}; popgate's log:\n{log}"):
        c.finish()
    families = parse_exposition(text)
    exported = {name for name in families if name.startswith("popgate_")}
    histograms = {n for n, (kind, _) in families.items() if kind == "histogram"}
    print(f"popgate exports {len(exported)} metric families: {', '.join(sorted(exported))}")
    c.check("popgate_build_info" in exported, "/metrics has no popgate_build_info")

    def labels_of(family):
        return {k for _, labels in families.get(family, ("", []))[1] for k in labels}

    def values_of(family, label):
        return {labels[label] for _, labels in families.get(family, ("", []))[1] if label in labels}

    used = set()
    for where, expr in expressions(args.source_dir):
        names = {base_metric_name(n, histograms) for n in re.findall(r"\bpopgate_[a-z_]+[a-z]\b", expr)}
        used |= names
        for name in sorted(names):
            c.check(name in exported, f"{where}: {name} is not a metric popgate exports")
        for metric, matchers in SELECTOR.findall(expr):
            family = base_metric_name(metric, histograms)
            if family not in exported:
                continue
            for label, op, value in MATCHER.findall(matchers):
                if label in TARGET_LABELS or value.startswith("$"):
                    continue
                if label == "le" and metric.endswith("_bucket"):
                    continue
                if not c.check(label in labels_of(family), f"{where}: {family} has no label {label} "
                               f"(it has {sorted(labels_of(family))})"):
                    continue
                known = values_of(family, label)
                wanted = [value] if op in ("=", "!=") else literal_alternatives(value)
                if wanted is None:
                    continue  # a real regular expression: nothing to enumerate
                for v in wanted:
                    c.check(v in known, f"{where}: {family}{{{label}{op}\"{value}\"}}: popgate never exports "
                            f"{label}=\"{v}\" (it has {sorted(known)})")
        # Labels grouped by must exist on one of the expression's popgate metrics (or be target labels).
        expr_labels = set().union(*(labels_of(n) for n in names)) if names else set()
        for clause in GROUPING.findall(expr):
            for label in (l.strip() for l in clause.split(",") if l.strip()):
                if label in TARGET_LABELS or label == "le" or label == "deployment":
                    continue
                c.check(label in expr_labels, f"{where}: groups by {label}, which none of {sorted(names)} has")

    # And the other way round: a metric nobody looks at is a panel missing.
    dashboard_names = set()
    for where, expr in expressions(args.source_dir):
        if where.startswith("dashboard"):
            dashboard_names |= {base_metric_name(n, histograms) for n in re.findall(r"\bpopgate_[a-z_]+[a-z]\b", expr)}
    for name in sorted(exported - dashboard_names):
        c.fail(f"{name} is exported but no dashboard panel shows it")
    c.check(len(used) >= 10, f"only {len(used)} popgate metrics used: {sorted(used)}")

    c.finish()


if __name__ == "__main__":
    main()
