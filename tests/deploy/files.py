"""The deploy files as data: paths, loaders, and the PromQL they contain.

The dashboard and the rules are read the way Grafana and Prometheus read them, so the tests
check the expressions an operator will actually run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus/rules.yml"
RULES_TEST = DEPLOY / "prometheus/rules.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus/prometheus.yml"
DASHBOARD = DEPLOY / "grafana/smartlead-monitor.json"
COMPOSE = DEPLOY / "compose/docker-compose.yml"
KUBERNETES = DEPLOY / "kubernetes"
CONFIG_SHIPPED = ROOT / "config/monitor.yaml"
SAMPLE_METRICS = Path(__file__).resolve().parent / "sample_metrics.prom"

# Contract §8: every metric name and its labels, exactly. Prometheus adds job and instance.
CONTRACT_METRICS: Mapping[str, frozenset[str]] = {
    "smartlead_accounts": frozenset({"workspace", "esp", "client_id"}),
    "smartlead_accounts_smtp_failing": frozenset({"workspace", "esp", "client_id"}),
    "smartlead_accounts_imap_failing": frozenset({"workspace", "esp", "client_id"}),
    "smartlead_accounts_warmup_blocked": frozenset({"workspace", "esp", "client_id"}),
    "smartlead_accounts_reputation_low": frozenset({"workspace", "esp", "client_id"}),
    "smartlead_account_warmup_reputation_ratio": frozenset({"workspace", "account_id", "email"}),
    "smartlead_account_daily_sent": frozenset({"workspace", "account_id", "email"}),
    "smartlead_account_daily_limit": frozenset({"workspace", "account_id", "email"}),
    "smartlead_issue_open": frozenset({"workspace", "account_id", "email", "kind"}),
    "smartlead_issues_opened_total": frozenset({"workspace", "kind"}),
    "smartlead_issues_resolved_total": frozenset({"workspace", "kind"}),
    "smartlead_poll_success": frozenset({"workspace", "poll"}),
    "smartlead_poll_last_success_timestamp_seconds": frozenset({"workspace", "poll"}),
    "smartlead_poll_duration_seconds": frozenset({"workspace", "poll"}),
    "smartlead_api_requests_total": frozenset({"workspace", "code"}),
    "smartlead_notifications_total": frozenset({"notifier", "result"}),
    "smartlead_outbox_pending": frozenset({"notifier"}),
    "smartlead_monitor_build_info": frozenset({"version"}),
}
HISTOGRAMS = frozenset({"smartlead_poll_duration_seconds"})
TARGET_LABELS = frozenset({"job", "instance"})

# Values Grafana gives its built-in interval variables; ours are set per test.
GRAFANA_BUILTINS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_METRIC = re.compile(r"\b(smartlead_[a-z0-9_]+|up)\b(?!\s*\()")
_BY = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"\b([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$")


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One query of one dashboard panel, as written (template variables unresolved)."""

    panel: str
    ref_id: str
    expr: str
    instant: bool

    def __str__(self) -> str:
        return f"{self.panel} [{self.ref_id}]"


@dataclass(frozen=True, slots=True)
class RuleExpression:
    """The expression of one alerting or recording rule."""

    name: str
    expr: str
    alert: bool


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (a collapsed row keeps its panels inside)."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panels(panel)


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(
            panel=str(panel.get("title", "")),
            ref_id=str(target.get("refId", "")),
            expr=str(target.get("expr", "")),
            instant=bool(target.get("instant", False)),
        )
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in dashboard.get("templating", {}).get("list", [])}


def variable_query(variable: Mapping[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query.get("query", "") if isinstance(query, Mapping) else query)


def rule_expressions(rules: Mapping[str, Any]) -> list[RuleExpression]:
    return [
        RuleExpression(
            name=str(rule.get("alert") or rule.get("record")),
            expr=str(rule["expr"]),
            alert="alert" in rule,
        )
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def alerts(rules: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def variables_used(expr: str) -> set[str]:
    return {next(g for g in match.groups() if g) for match in _VARIABLE.finditer(expr)}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Resolve Grafana template variables as Grafana would; an unknown one raises KeyError."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return values[name]

    return _VARIABLE.sub(value, expr)


def label_values_as_promql(query: str) -> str:
    """Grafana's `label_values(selector, label)` as the PromQL that yields the same values."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    selector, label = match.groups()
    return f"group by ({label}) ({selector})"


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (histogram series folded into their family)."""
    names = set()
    for name in _METRIC.findall(expr):
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def label_names(expr: str) -> set[str]:
    """Label names an expression matches on or groups by (a textual, conservative scan)."""
    grouped = {
        label.strip()
        for clause in _BY.findall(expr)
        for label in clause.split(",")
        if label.strip()
    }
    return grouped | set(_MATCHER.findall(expr))
