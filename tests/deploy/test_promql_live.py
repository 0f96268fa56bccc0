"""Every PromQL expression of the dashboard and the rules, run by a real Prometheus.

Prometheus (the Debian binary, on loopback, 1 s intervals) loads the shipped rules and scrapes
itself plus a server that serves sample_metrics.prom: an exposition shaped exactly like
contract §8. The same checks against the real daemon live in a separate, daemon-driven test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from .exposition import serving_metrics
from .files import (
    GRAFANA_BUILTINS,
    RULES,
    SAMPLE_METRICS,
    label_values_as_promql,
    load_dashboard,
    load_yaml,
    panel_queries,
    rule_expressions,
    substitute,
    variable_query,
    variables,
)
from .prometheus import PrometheusServer, running_prometheus

JOB = "smartlead-monitor"
# "All" as Grafana sends it (allValue), and one concrete choice from the sample exposition.
ALL_VALUES = {"workspace": ".*", "client_id": ".*"}
ONE_CHOICE = {"workspace": "acme", "client_id": "12"}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir = tmp_path_factory.mktemp("prometheus")
    with (
        serving_metrics(SAMPLE_METRICS.read_bytes()) as target,
        running_prometheus(workdir, {JOB: [target], "prometheus": ["self"]}) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def scraped(prometheus: PrometheusServer) -> PrometheusServer:
    """Prometheus once it holds enough samples of the monitor's job for rate() to answer."""
    prometheus.wait_for_samples(JOB, samples=2)
    return prometheus


def dashboard_expressions(values: Mapping[str, str]) -> dict[str, str]:
    return {
        str(query): substitute(query.expr, {**GRAFANA_BUILTINS, **values})
        for query in panel_queries(load_dashboard())
    }


def test_every_rule_expression_parses(prometheus: PrometheusServer) -> None:
    """Prometheus accepts the expression of every alerting and recording rule."""
    rules: dict[str, Any] = load_yaml(RULES)
    errors = {
        rule.name: answer.error
        for rule in rule_expressions(rules)
        if (answer := prometheus.query(rule.expr)).error is not None
    }
    assert errors == {}


def test_every_dashboard_query_parses(prometheus: PrometheusServer) -> None:
    """Prometheus accepts every panel query with the template variables resolved."""
    errors = {
        name: answer.error
        for name, expr in dashboard_expressions(ALL_VALUES).items()
        if (answer := prometheus.query(expr)).error is not None
    }
    assert errors == {}


def test_a_broken_expression_is_reported(prometheus: PrometheusServer) -> None:
    """The harness sees Prometheus' parse errors (so the checks above can fail)."""
    answer = prometheus.query("sum by (workspace (smartlead_accounts)")
    assert answer.error is not None
    assert "bad_data" in answer.error


def test_rules_load_and_evaluate_without_errors(scraped: PrometheusServer) -> None:
    """Prometheus loads every rule of rules.yml and evaluates each one without an error."""
    expected = {rule.name for rule in rule_expressions(load_yaml(RULES))}

    def evaluated() -> list[dict[str, Any]]:
        groups = scraped.api("/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    scraped.wait_until(
        lambda: all(rule["health"] != "unknown" for rule in evaluated()), "a rule evaluation"
    )
    loaded = evaluated()
    assert {rule["name"] for rule in loaded} == expected
    assert {
        rule["name"]: rule.get("lastError", "") for rule in loaded if rule["health"] != "ok"
    } == {}


@pytest.mark.parametrize("values", [ALL_VALUES, ONE_CHOICE], ids=["all", "one-choice"])
def test_every_dashboard_query_returns_data(
    scraped: PrometheusServer, values: Mapping[str, str]
) -> None:
    """Every panel query finds series in a §8-shaped exposition, for "All" and for one choice."""
    empty = [
        name
        for name, expr in dashboard_expressions(values).items()
        if not scraped.query(expr).has_data
    ]
    assert empty == []


def test_template_variables_offer_values(scraped: PrometheusServer) -> None:
    """The workspace and client variables list the values present in the exposition."""
    found = {}
    for name, variable in variables(load_dashboard()).items():
        if variable["type"] != "query":
            continue
        promql = substitute(label_values_as_promql(variable_query(variable)), ALL_VALUES)
        found[name] = {series["metric"][name] for series in scraped.query(promql).result}
    assert found == {"workspace": {"acme", "default"}, "client_id": {"none", "12"}}


def test_alerts_evaluate_on_the_sample_exposition(scraped: PrometheusServer) -> None:
    """Real Prometheus raises the expected alerts from §8-shaped series (labels line up)."""
    expected = {
        ("SmartLeadMonitorApiAuthFailed", "default", "firing"),
        ("SmartLeadMonitorPollsStale", "default", "pending"),
        ("SmartLeadMonitorPollsFailing", "default", "pending"),
        ("SmartLeadFleetWarmupBlocked", "acme", "pending"),
        ("SmartLeadFleetReputationLow", "acme", "pending"),
    }

    def active() -> set[tuple[str, str, str]]:
        answer = scraped.api("/api/v1/alerts")["data"]["alerts"]
        return {
            (alert["labels"]["alertname"], alert["labels"].get("workspace", ""), alert["state"])
            for alert in answer
        }

    scraped.wait_until(lambda: expected <= active(), "the expected alerts")
    assert not any(name == "SmartLeadMonitorDown" for name, _, _ in active())
