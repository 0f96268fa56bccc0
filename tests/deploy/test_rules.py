"""Alert rules: valid for promtool, unit-tested per alert, tunable in one place."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .files import (
    CONTRACT_METRICS,
    RULES,
    RULES_TEST,
    TARGET_LABELS,
    alerts,
    label_names,
    load_dashboard,
    load_yaml,
    metric_names,
    rule_expressions,
)
from .tools import require, run

# The alertnames the daemon itself posts to Alertmanager (contract §6).
DAEMON_ALERTNAMES = {
    "SmartLeadSmtpFailed",
    "SmartLeadImapFailed",
    "SmartLeadWarmupBlocked",
    "SmartLeadReputationLow",
    "SmartLeadApiAuthFailed",
    "SmartLeadApiUnavailable",
}
THRESHOLD = re.compile(r"\bsmartlead:threshold:\w+")
# A comparison against a literal other than 0: a threshold that escaped the thresholds block.
LITERAL_COMPARISON = re.compile(r"(?:==|!=|>=|<=|>|<)\s*(?!0\b)(\d+(?:\.\d+)?)\b")


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(RULES)
    return data


@pytest.fixture(scope="module")
def unit_tests() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(RULES_TEST)
    return data


def test_rules_pass_promtool_check() -> None:
    """promtool accepts the rules file (syntax, PromQL, templates)."""
    output = run([require("promtool"), "check", "rules", str(RULES)])
    assert "SUCCESS" in output


def test_rule_unit_tests_pass() -> None:
    """Every case of rules.test.yml passes under `promtool test rules`."""
    output = run([require("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert "SUCCESS" in output


def test_unit_tests_catch_a_changed_threshold(tmp_path: Path, unit_tests: dict[str, Any]) -> None:
    """Raising the stale-poll threshold breaks the stale-poll cases: they pin the numbers."""
    text = RULES.read_text(encoding="utf-8")
    assert "expr: vector(900)" in text
    (tmp_path / RULES.name).write_text(text.replace("expr: vector(900)", "expr: vector(1300)"))
    stale_cases = [case for case in unit_tests["tests"] if "stale" in case["name"]]
    assert stale_cases
    (tmp_path / RULES_TEST.name).write_text(yaml.safe_dump({**unit_tests, "tests": stale_cases}))
    result = subprocess.run(
        [require("promtool"), "test", "rules", RULES_TEST.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SmartLeadMonitorPollsStale" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case(
    rules: dict[str, Any], unit_tests: dict[str, Any]
) -> None:
    """rules.test.yml covers each alert both firing and not firing."""
    firing: set[str] = set()
    silent: set[str] = set()
    for case in unit_tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts(rules)}
    assert names - firing == set(), "alerts without a firing case"
    assert names - silent == set(), "alerts without a not-firing case"
    assert (firing | silent) - names == set(), "cases for alerts that do not exist"


def test_every_alert_has_severity_runbook_and_dashboard_link(rules: dict[str, Any]) -> None:
    """Each alert has a severity, a summary, a description, a runbook and a dashboard_url."""
    uid = load_dashboard()["uid"]
    for rule in alerts(rules):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook", "dashboard_url"} <= set(annotations)
        assert f"/d/{uid}" in annotations["dashboard_url"], rule["alert"]


def test_alert_names_never_collide_with_the_daemons_alerts(rules: dict[str, Any]) -> None:
    """Prometheus' alerts are named apart from the per-mailbox alerts the daemon posts."""
    names = {rule["alert"] for rule in alerts(rules)}
    assert names & DAEMON_ALERTNAMES == set()
    assert all(name.startswith(("SmartLeadMonitor", "SmartLeadFleet")) for name in names)


def test_thresholds_live_in_the_recording_rules(rules: dict[str, Any]) -> None:
    """Alerts compare against the threshold series, never a literal; every threshold is used."""
    expressions = rule_expressions(rules)
    defined = {rule.name for rule in expressions if not rule.alert}
    used: set[str] = set()
    for rule in expressions:
        if rule.alert:
            assert LITERAL_COMPARISON.findall(rule.expr) == [], rule.name
            used |= set(THRESHOLD.findall(rule.expr))
    assert used == defined
    assert all(name.startswith("smartlead:threshold:") for name in defined)


def test_rules_use_only_contract_metrics_and_labels(rules: dict[str, Any]) -> None:
    """Every metric and label in the rules is one the daemon exports (contract §8)."""
    for rule in rule_expressions(rules):
        names = metric_names(rule.expr)
        assert names <= set(CONTRACT_METRICS) | {"up"}, rule.name
        allowed = set(TARGET_LABELS) | {"poll"}  # poll: the label of the stale thresholds
        for name in names & set(CONTRACT_METRICS):
            allowed |= CONTRACT_METRICS[name]
        assert label_names(rule.expr) <= allowed, rule.name
