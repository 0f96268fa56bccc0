"""The compose stack, checked structurally (no Docker engine needed): services, profiles,
wiring between them, and every file it mounts present in the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .files import COMPOSE, DASHBOARD, PROMETHEUS_CONFIG, ROOT, load_yaml
from .tools import require, run

MONITORS = ("monitor", "monitor-demo")
STATE = "/var/lib/smartlead-monitor"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path resolved against the compose folder, container path) of each bind mount."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append(((COMPOSE.parent / source).resolve(), target))
    return mounts


def mount_source(service: dict[str, Any], target: str) -> Path:
    (source,) = [host for host, container in bind_mounts(service) if container == target]
    return source


def env(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def test_stack_has_monitor_prometheus_alertmanager_grafana(
    services: dict[str, dict[str, Any]],
) -> None:
    """The four parts of the stack, plus the demo's simulator and monitor, are services."""
    assert {"monitor", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert {"simulator", "monitor-demo"} <= set(services)


def test_profiles_split_live_and_demo(services: dict[str, dict[str, Any]]) -> None:
    """`--profile demo` runs the simulator and a monitor; `--profile live` the real monitor."""
    assert services["monitor"]["profiles"] == ["live"]
    assert services["monitor-demo"]["profiles"] == ["demo"]
    assert services["simulator"]["profiles"] == ["demo"]
    for name in ("prometheus", "alertmanager", "grafana"):
        assert "profiles" not in services[name], name


def test_demo_monitor_polls_the_simulator(services: dict[str, dict[str, Any]]) -> None:
    """The demo monitor's SmartLead is the simulator service, at the port and key it serves."""
    simulator = services["simulator"]
    command = simulator["command"]
    assert command[0] == "simulate"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--host"] == "0.0.0.0"  # reachable from the other containers
    demo = services["monitor-demo"]
    assert env(demo)["SMARTLEAD_BASE_URL"] == f"http://simulator:{options['--port']}"
    assert env(demo)["SMARTLEAD_API_KEY"] == options.get("--api-key", "demo")
    assert demo["depends_on"]["simulator"]["condition"] == "service_healthy"
    healthcheck = " ".join(simulator["healthcheck"]["test"])
    assert options["--port"] in healthcheck
    assert "curl" not in healthcheck


def test_live_monitor_reads_the_key_from_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    """The live monitor gets its API key and notifier URLs from the caller's environment."""
    variables = env(services["monitor"])
    for name in ("SMARTLEAD_API_KEY", "SLACK_WEBHOOK_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"):
        assert variables[name].startswith(f"${{{name}"), name
    assert "SMARTLEAD_API_KEY" not in variables["SMARTLEAD_BASE_URL"]


@pytest.mark.parametrize("name", MONITORS)
def test_monitor_container_is_locked_down(services: dict[str, dict[str, Any]], name: str) -> None:
    """Read-only root, uid 10001, /tmp in memory, state on its own volume, 15 s to stop."""
    service = services[name]
    assert service["read_only"] is True
    assert service["user"] == "10001:10001"
    assert service["tmpfs"] == ["/tmp"]
    assert service["cap_drop"] == ["ALL"]
    assert service["stop_grace_period"] == "15s"
    (state,) = [volume for volume in service["volumes"] if volume.endswith(f":{STATE}")]
    assert not state.startswith((".", "/"))  # a named volume


def test_monitors_keep_separate_state(services: dict[str, dict[str, Any]]) -> None:
    """The demo never writes into the live monitor's state volume."""
    states = {services[name]["volumes"][0].split(":")[0] for name in MONITORS}
    assert len(states) == len(MONITORS)


def test_prometheus_scrapes_the_monitor_and_alerts_alertmanager(
    services: dict[str, dict[str, Any]],
) -> None:
    """The scrape target and Alertmanager address resolve to services on the compose network."""
    config = load_yaml(mount_source(services["prometheus"], "/etc/prometheus/prometheus.yml"))
    assert mount_source(services["prometheus"], "/etc/prometheus/prometheus.yml") == (
        PROMETHEUS_CONFIG
    )
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "smartlead-monitor"]
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host == "monitor"
    assert services["monitor-demo"]["networks"]["default"]["aliases"] == ["monitor"]
    for name in MONITORS:
        assert f"127.0.0.1:{port}:{port}" in services[name]["ports"]
        assert env(services[name])["ALERTMANAGER_URL"] == "http://alertmanager:9093"
    (alertmanager,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == "alertmanager:9093"
    for rule_file in config["rule_files"]:
        mounted = mount_source(services["prometheus"], f"/etc/prometheus/{rule_file}")
        assert mounted.is_file()


def test_every_bind_mount_exists_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    """Each mounted config, provisioning folder and dashboard is a path in this repository."""
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert source.exists(), f"{name}: {source}"
            assert source.is_relative_to(ROOT), f"{name}: {source}"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    """Every named volume a service uses is declared at the top level."""
    used = {
        volume.split(":")[0]
        for service in compose["services"].values()
        for volume in service.get("volumes", [])
        if not volume.startswith((".", "/"))
    }
    assert used == set(compose["volumes"])


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    """Customer emails in /metrics, /api/v1/* and Grafana are not exposed beyond the host."""
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_grafana_provisions_the_datasource_and_dashboard(
    services: dict[str, dict[str, Any]],
) -> None:
    """Grafana gets a Prometheus datasource at the prometheus service and loads the dashboard."""
    grafana = services["grafana"]
    provisioning = mount_source(grafana, "/etc/grafana/provisioning")
    (datasource,) = load_yaml(provisioning / "datasources/prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["isDefault"] is True
    (provider,) = load_yaml(provisioning / "dashboards/smartlead-monitor.yml")["providers"]
    dashboards = mount_source(grafana, provider["options"]["path"])
    assert (dashboards / DASHBOARD.name).is_file()
    home = env(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


def test_alertmanager_config_is_valid(services: dict[str, dict[str, Any]]) -> None:
    """amtool accepts the Alertmanager config the stack mounts."""
    config = mount_source(services["alertmanager"], "/etc/alertmanager/alertmanager.yml")
    assert "SUCCESS" in run([require("amtool"), "check-config", str(config)])


def test_prometheus_config_is_valid() -> None:
    """promtool accepts the scrape config with its rule files."""
    assert "SUCCESS" in run([require("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    """Third-party images carry an exact version tag, never latest."""
    for name in ("prometheus", "alertmanager", "grafana"):
        image = services[name]["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), image
