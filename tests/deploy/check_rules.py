#!/usr/bin/env python3
"""The alert rules: promtool accepts deploy/monitoring/rules.yml, the PrometheusRule carries the
same groups, every alert has a severity and text, and promtool's unit tests
(tests/deploy/rules_test.yml) pass and cover every alert."""

import shutil
import subprocess
from pathlib import Path

from deploy_lib import Checker, arguments, load_yaml_documents

REQUIRED_ALERTS = {
    # The operations issue's list, and the metric each must be built on.
    "PopgateUpstreamErrorRatioHigh": ["popgate_upstream_errors_total", "popgate_upstream_operation_duration_seconds_count"],
    "PopgateAuthFailureSpike": ['popgate_auth_attempts_total{result="auth"}'],
    "PopgateCommandLatencyP99High": ["histogram_quantile(0.99", "popgate_command_duration_seconds_bucket"],
    "PopgateNoReadyReplicas": [],
}


def run(c, argv, what):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    c.check(result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def main():
    args = arguments(__doc__)
    c = Checker("alert rules")
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not c.check(Path(promtool).exists(), "promtool not found (Debian package prometheus; scripts/install-deps.sh)"):
        c.finish()
    monitoring = args.source_dir / "deploy/monitoring"
    rules_file = monitoring / "rules.yml"
    tests_file = args.source_dir / "tests/deploy/rules_test.yml"

    run(c, [promtool, "check", "rules", str(rules_file)], "promtool check rules deploy/monitoring/rules.yml")

    plain = load_yaml_documents(rules_file)[0]
    operator = load_yaml_documents(monitoring / "prometheusrule.yaml")[0]
    c.check(operator.get("kind") == "PrometheusRule", "prometheusrule.yaml is not a PrometheusRule")
    c.check(operator.get("spec") == plain,
            "prometheusrule.yaml's spec differs from rules.yml: edit rules.yml and copy its groups over")

    alerts = {}
    for group in plain.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                alerts[rule["alert"]] = rule
    for name, fragments in REQUIRED_ALERTS.items():
        rule = alerts.get(name)
        if not c.check(rule, f"alert {name} is missing"):
            continue
        expr = " ".join(rule["expr"].split())
        for fragment in fragments:
            c.check(fragment in expr, f"alert {name}: expected {fragment!r} in its expression")
    for name, rule in alerts.items():
        c.check(rule.get("labels", {}).get("severity") in ("warning", "critical"),
                f"alert {name}: severity must be warning or critical")
        for key in ("summary", "description"):
            c.check(rule.get("annotations", {}).get(key), f"alert {name}: no {key} annotation")

    # Unit tests: every alert is exercised, and the tests pass. promtool resolves rule_files
    # relative to the test file, so it runs in place.
    tests = load_yaml_documents(tests_file)[0]
    c.check(tests.get("rule_files") == ["../../deploy/monitoring/rules.yml"],
            "rules_test.yml must load ../../deploy/monitoring/rules.yml")
    tested = {t["alertname"] for case in tests.get("tests", []) for t in case.get("alert_rule_test", [])}
    firing = {t["alertname"] for case in tests.get("tests", []) for t in case.get("alert_rule_test", [])
              if t.get("exp_alerts")}
    quiet = {t["alertname"] for case in tests.get("tests", []) for t in case.get("alert_rule_test", [])
             if not t.get("exp_alerts")}
    for name in alerts:
        c.check(name in firing, f"alert {name}: no unit test where it fires")
        c.check(name in quiet, f"alert {name}: no unit test where it stays quiet")
    c.check(tested <= set(alerts), f"rules_test.yml tests unknown alerts {sorted(tested - set(alerts))}")
    result = run(c, [promtool, "test", "rules", str(tests_file)], "promtool test rules tests/deploy/rules_test.yml")
    c.check("SUCCESS" in result.stdout, f"promtool test rules did not report SUCCESS:\n{result.stdout}")

    c.finish()


if __name__ == "__main__":
    main()
