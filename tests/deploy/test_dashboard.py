"""The Grafana dashboard: well-formed, templated, and built only from contract metrics."""

from __future__ import annotations

from typing import Any

import pytest

from .files import (
    CONTRACT_METRICS,
    GRAFANA_BUILTINS,
    TARGET_LABELS,
    label_names,
    load_dashboard,
    metric_names,
    panel_queries,
    panels,
    variable_query,
    variables,
    variables_used,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def test_dashboard_has_a_stable_uid(dashboard: dict[str, Any]) -> None:
    """The uid the alert rules link to (/d/smartlead-monitor) is fixed in the JSON."""
    assert dashboard["uid"] == "smartlead-monitor"
    assert dashboard["title"]


def test_every_panel_has_a_query_on_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    """Each panel (rows aside) queries Prometheus through the ${datasource} variable."""
    content = [panel for panel in panels(dashboard) if panel["type"] != "row"]
    assert len(content) >= 20
    for panel in content:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == DATASOURCE, panel["title"]
        assert panel.get("description"), panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    """No two panels claim the same grid cell, and all fit the 24-column grid."""
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_templated_by_datasource_workspace_and_client(dashboard: dict[str, Any]) -> None:
    """Data source, workspace and client are variables; "All" sends a match-everything regex."""
    found = variables(dashboard)
    assert found["datasource"]["type"] == "datasource"
    assert found["datasource"]["query"] == "prometheus"
    for name in ("workspace", "client_id"):
        variable = found[name]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] and variable["includeAll"]
        assert variable["allValue"] == ".*"
        assert variable_query(variable).startswith("label_values(")


def test_queries_use_only_defined_variables(dashboard: dict[str, Any]) -> None:
    """Every $variable in a query is a dashboard variable or a Grafana built-in."""
    known = set(variables(dashboard)) | set(GRAFANA_BUILTINS)
    for query in panel_queries(dashboard):
        assert variables_used(query.expr) <= known, str(query)


def test_queries_use_only_contract_metrics_and_labels(dashboard: dict[str, Any]) -> None:
    """Every metric and label a query names is exported by the daemon (contract §8)."""
    for query in panel_queries(dashboard):
        names = metric_names(query.expr)
        assert names and names <= set(CONTRACT_METRICS), str(query)
        allowed = set(TARGET_LABELS) | {"le"}
        for name in names:
            allowed |= CONTRACT_METRICS[name]
        assert label_names(query.expr) <= allowed, str(query)


def test_dashboard_shows_every_contract_metric(dashboard: dict[str, Any]) -> None:
    """Each §8 metric appears on at least one panel."""
    shown = set().union(*(metric_names(query.expr) for query in panel_queries(dashboard)))
    assert set(CONTRACT_METRICS) - shown == set()
