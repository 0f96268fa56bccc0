"""The dashboard and the rules against the real daemon, scraped by a real Prometheus.

`smartlead-monitor simulate` serves a changing fleet, `smartlead-monitor run` polls it with
1-2 s intervals behind a bearer token, and Prometheus (Debian binary, loopback, 1 s scrapes,
the shipped scrape job plus the token) runs every PromQL expression of the dashboard and rules.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .files import (
    GRAFANA_BUILTINS,
    RULES,
    label_values_as_promql,
    load_dashboard,
    load_yaml,
    panel_queries,
    rule_expressions,
    substitute,
    variable_query,
    variables,
)
from .prometheus import PrometheusServer, free_port, running_prometheus

pytestmark = pytest.mark.e2e

JOB = "smartlead-monitor"
CLI = Path(sys.executable).parent / "smartlead-monitor"
ALL_VALUES = {"workspace": ".*", "client_id": ".*"}
TOKEN = secrets.token_hex(16)
STOP_BOUND = 10.0  # seconds, contract §2


def wait_for(check: Any, what: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll `check` while a child process starts up; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s", pytrace=False)
        time.sleep(0.1)


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def ready(port: int) -> bool:
    """/readyz answers 200 (the token is sent in case the daemon guards /readyz too)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_BOUND + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("daemon-live")


@pytest.fixture(scope="module")
def simulator(workdir: Path) -> Iterator[int]:
    port = free_port()
    log = (workdir / "simulator.log").open("wb")
    process = subprocess.Popen(
        [
            str(CLI),
            "simulate",
            "--port",
            str(port),
            "--accounts",
            "150",
            "--seed",
            "5",
            "--tick",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: accepts(port), "simulator listening", process)
        yield port
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def daemon(workdir: Path, simulator: int) -> Iterator[int]:
    port = free_port()
    config = {
        "workspaces": [
            {
                "name": "default",
                "api_key": "demo",
                "base_url": f"http://127.0.0.1:{simulator}",
                "rate_limit": 50,
            },
        ],
        "polling": {"failure_interval": 1, "inventory_interval": 2},
        "notifiers": [{"type": "console", "name": "console"}],
        "http": {"listen": f"127.0.0.1:{port}", "auth": {"bearer_token": TOKEN}},
        "state": {"path": str(workdir / "monitor.db")},
        "logging": {"level": "info", "format": "json"},
    }
    config_path = workdir / "monitor.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (workdir / "daemon.log").open("wb")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MONITOR_")}
    process = subprocess.Popen(
        [str(CLI), "run", "--config", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for(lambda: ready(port), "daemon ready", process)
        yield port
    finally:
        code = stop(process)
        log.close()
        assert code == 0, (workdir / "daemon.log").read_text()[-2000:]


@pytest.fixture(scope="module")
def prometheus(workdir: Path, daemon: int) -> Iterator[PrometheusServer]:
    token = workdir / "token"
    token.write_text(TOKEN, encoding="utf-8")
    auth = {"authorization": {"type": "Bearer", "credentials_file": str(token)}}
    with running_prometheus(
        workdir / "prometheus",
        {JOB: [f"127.0.0.1:{daemon}"], "prometheus": ["self"]},
        job_settings={JOB: auth},
    ) as server:
        server.wait_for_samples(JOB, samples=3)
        # Issues open and resolve as the fleet ticks: wait until counters have moved.
        server.wait_until(
            lambda: server.query("sum(increase(smartlead_issues_opened_total[1m])) > 0").has_data,
            "an issue opened while scraped",
        )
        yield server


def test_scrape_with_the_bearer_token_succeeds(prometheus: PrometheusServer) -> None:
    """Prometheus scrapes the token-protected /metrics with the shipped job plus the token."""
    answer = prometheus.query(f'up{{job="{JOB}"}} == 1')
    assert answer.has_data


def test_metrics_refuse_a_scrape_without_the_token(daemon: int) -> None:
    """/metrics answers 401 without the bearer token; /healthz and /readyz stay open for probes."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{daemon}/metrics", timeout=5)
    refused.value.close()
    assert refused.value.code == 401
    for probe in ("/healthz", "/readyz"):  # kubelet probes carry no credentials
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon}{probe}", timeout=5) as answer:
            assert answer.status == 200, probe


def test_healthz_is_open_without_the_token(daemon: int) -> None:
    """/healthz answers without credentials."""
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon}/healthz", timeout=5) as answer:
        assert answer.status == 200


def test_every_rule_expression_parses_against_the_daemon(prometheus: PrometheusServer) -> None:
    """Every rule expression is accepted by Prometheus with the daemon's series loaded."""
    errors = {
        rule.name: answer.error
        for rule in rule_expressions(load_yaml(RULES))
        if (answer := prometheus.query(rule.expr)).error is not None
    }
    assert errors == {}


def test_every_dashboard_panel_returns_data_from_the_daemon(prometheus: PrometheusServer) -> None:
    """Each panel query, with "All" selected, returns series scraped from the real daemon."""
    answers = {
        str(query): prometheus.query(substitute(query.expr, {**GRAFANA_BUILTINS, **ALL_VALUES}))
        for query in panel_queries(load_dashboard())
    }
    assert {name: answer.error for name, answer in answers.items() if answer.error} == {}
    assert [name for name, answer in answers.items() if not answer.has_data] == []


def test_every_dashboard_panel_returns_data_for_one_workspace_and_client(
    prometheus: PrometheusServer,
) -> None:
    """Picking a workspace and a client from the variables still fills every panel."""
    dashboard = load_dashboard()
    choice: dict[str, str] = {}
    for name in ("workspace", "client_id"):
        promql = label_values_as_promql(variable_query(variables(dashboard)[name]))
        values = prometheus.query(substitute(promql, {**ALL_VALUES, **choice})).result
        assert values, f"variable {name} offers no value"
        choice[name] = values[0]["metric"][name]
    empty = [
        str(query)
        for query in panel_queries(dashboard)
        if not prometheus.query(substitute(query.expr, {**GRAFANA_BUILTINS, **choice})).has_data
    ]
    assert empty == [], json.dumps(choice)


def test_rules_evaluate_cleanly_against_the_daemon(prometheus: PrometheusServer) -> None:
    """Every rule evaluates without error on the daemon's series; the monitor is not down."""

    def loaded() -> list[dict[str, Any]]:
        groups = prometheus.api("/api/v1/rules")["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    prometheus.wait_until(lambda: all(r["health"] != "unknown" for r in loaded()), "evaluation")
    assert {r["name"]: r.get("lastError") for r in loaded() if r["health"] != "ok"} == {}
    alerts = prometheus.api("/api/v1/alerts")["data"]["alerts"]
    names = {alert["labels"]["alertname"] for alert in alerts}
    assert "SmartLeadMonitorDown" not in names
    assert "SmartLeadMonitorApiAuthFailed" not in names
