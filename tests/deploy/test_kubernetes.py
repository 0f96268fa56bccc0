"""Kubernetes manifests: rendered by kustomize, validated strictly, wired consistently.

Core resources go through `kubernetes-validate --strict` (the Kubernetes OpenAPI schemas,
unknown fields rejected) for the oldest and newest Kubernetes we target. It has no schema for
the Prometheus Operator's ServiceMonitor and PrometheusRule, so those are checked against a
strict subset of their CRD schemas below, and the rule groups by promtool.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .files import CONFIG_SHIPPED, KUBERNETES, ROOT, RULES, load_yaml
from .tools import require, run

KUBERNETES_VERSIONS = ("1.29", "1.37")
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
BASE = KUBERNETES / "base"
OVERLAY = KUBERNETES / "overlays/example"
UID = 10001
SHUTDOWN_BOUND = 10  # seconds: contract §2, `run` exits within 10 s of SIGTERM

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
    },
    "additionalProperties": False,
}
_DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"}
# Strict subsets of the monitoring.coreos.com/v1 CRD schemas: the fields these manifests use.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["endpoints", "selector"],
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "properties": {"matchLabels": {**_STRING_MAP, "minProperties": 1}},
                    "required": ["matchLabels"],
                    "additionalProperties": False,
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "authorization": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string"},
                                    "credentials": {
                                        "type": "object",
                                        "required": ["name", "key"],
                                        "properties": {
                                            "name": {"type": "string"},
                                            "key": {"type": "string"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "additionalProperties": False,
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": "string"},
                                        "for": _DURATION,
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
SCHEMAS = {"ServiceMonitor": SERVICE_MONITOR_SCHEMA, "PrometheusRule": PROMETHEUS_RULE_SCHEMA}


@functools.cache
def kustomize(folder: Path) -> str:
    """`kubectl kustomize` output, rendered once per folder and test session."""
    return run([require("kubectl"), "kustomize", str(folder)])


@pytest.fixture(scope="module", params=[BASE, OVERLAY], ids=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> str:
    folder: Path = request.param
    return kustomize(folder)


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(text: str, kind: str) -> dict[str, Any]:
    found = [doc for doc in documents(text) if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess[str]:
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", *versions, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generated_files_are_fresh() -> None:
    """The PrometheusRule and the ConfigMap's config match their sources (deploy/render.py)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy/render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_rule_carries_the_rules_file() -> None:
    """The base's PrometheusRule has exactly the groups of deploy/prometheus/rules.yml."""
    rule = load_yaml(BASE / "prometheusrule.yaml")
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"]


def test_config_map_carries_the_shipped_config() -> None:
    """The ConfigMap's monitor.yaml is config/monitor.yaml, byte for byte after the header."""
    copy = (BASE / "monitor.yaml").read_text(encoding="utf-8")
    header, _, body = copy.partition("\n")
    assert header.startswith("# Generated by deploy/render.py")
    assert body == CONFIG_SHIPPED.read_text(encoding="utf-8")


def test_core_resources_pass_strict_validation(rendered: str, tmp_path: Path) -> None:
    """kubernetes-validate --strict accepts every core resource for each targeted version."""
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered, encoding="utf-8")
    result = kubernetes_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    core = [doc for doc in documents(rendered) if doc["kind"] not in OPERATOR_KINDS]
    for doc in core:
        name = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        for version in KUBERNETES_VERSIONS:
            assert f"passed for resource {name} against version {version}" in result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert len(warnings) == len(OPERATOR_KINDS) * len(KUBERNETES_VERSIONS)
    assert all("monitoring.coreos.com/v1" in line for line in warnings)


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validation can fail: a misspelt Deployment field is an error."""
    deployment = by_kind(kustomize(BASE), "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 15
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    result = kubernetes_validate(path)
    assert result.returncode != 0
    assert "terminationGracePeriod" in result.stdout


@pytest.mark.parametrize("kind", sorted(OPERATOR_KINDS))
def test_operator_resources_match_their_crd_schema(rendered: str, kind: str) -> None:
    """ServiceMonitor and PrometheusRule use only fields of their CRD, with the right types."""
    jsonschema.validate(by_kind(rendered, kind), SCHEMAS[kind])


def test_crd_schema_check_rejects_an_unknown_field(rendered: str) -> None:
    """The structural check can fail: an endpoint field the CRD lacks is an error."""
    monitor = by_kind(rendered, "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["bearerToken"] = "inline"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)


def test_prometheus_rule_groups_pass_promtool(rendered: str, tmp_path: Path) -> None:
    """The groups inside the rendered PrometheusRule are a valid Prometheus rules file."""
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(by_kind(rendered, "PrometheusRule")["spec"]))
    run([require("promtool"), "check", "rules", str(rules)])


def test_deployment_is_locked_down(rendered: str) -> None:
    """Non-root uid 10001, read-only root, no privilege escalation, no capabilities."""
    pod = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["fsGroup"] == UID
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_deployment_probes_and_shutdown(rendered: str) -> None:
    """Liveness on /healthz, readiness on /readyz, grace period above the 10 s shutdown bound."""
    deployment = by_kind(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert SHUTDOWN_BOUND < pod["terminationGracePeriodSeconds"] <= SHUTDOWN_BOUND + 10
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_deployment_writes_only_to_its_volumes(rendered: str) -> None:
    """State goes to the PVC at /var/lib/smartlead-monitor; /tmp is an emptyDir; config mounted."""
    pod = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    state = mounts["/var/lib/smartlead-monitor"]
    assert "persistentVolumeClaim" in volumes[state["name"]]
    assert env["MONITOR_STATE_PATH"].startswith("/var/lib/smartlead-monitor/")
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    config_dir = str(Path(env["SMARTLEAD_MONITOR_CONFIG"]).parent)
    assert mounts[config_dir]["readOnly"] is True
    config_map = by_kind(rendered, "ConfigMap")
    assert (
        volumes[mounts[config_dir]["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    )
    assert Path(env["SMARTLEAD_MONITOR_CONFIG"]).name in config_map["data"]
    claim = by_kind(rendered, "PersistentVolumeClaim")["metadata"]["name"]
    assert volumes[state["name"]]["persistentVolumeClaim"]["claimName"] == claim


def test_selectors_and_ports_line_up(rendered: str) -> None:
    """Service selects the pods, the ServiceMonitor selects the Service and scrapes its port."""
    pod_labels = by_kind(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = by_kind(rendered, "Service")
    monitor = by_kind(rendered, "ServiceMonitor")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names
    (container,) = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert {port["name"] for port in container["ports"]} >= port_names
    assert service["spec"]["publishNotReadyAddresses"] is True  # scrape while SmartLead is down


def test_scrape_job_is_the_one_the_alerts_watch(rendered: str) -> None:
    """The ServiceMonitor's job label resolves to job="smartlead-monitor", as the rules expect."""
    monitor = by_kind(rendered, "ServiceMonitor")
    service = by_kind(rendered, "Service")
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "smartlead-monitor"
    assert 'job="smartlead-monitor"' in RULES.read_text(encoding="utf-8")


def test_scrape_sends_the_bearer_token_the_daemon_reads(rendered: str) -> None:
    """/metrics is scraped with MONITOR_HTTP_TOKEN from the Secret the pod loads its env from."""
    monitor = by_kind(rendered, "ServiceMonitor")
    (container,) = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    credentials = monitor["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials["key"] == "MONITOR_HTTP_TOKEN"
    secrets = {source["secretRef"]["name"] for source in container["envFrom"]}
    assert secrets == {credentials["name"]}


def test_secret_example_is_valid_and_names_every_key() -> None:
    """secret.example.yaml validates and carries the keys the overlay's generator uses."""
    example = BASE / "secret.example.yaml"
    result = kubernetes_validate(example)
    assert result.returncode == 0, result.stdout
    keys = set(load_yaml(example)["stringData"])
    env_file = (OVERLAY / "monitor.env").read_text(encoding="utf-8")
    generated = {line.partition("=")[0] for line in env_file.splitlines() if "=" in line}
    assert keys == generated
    assert {"SMARTLEAD_API_KEY", "MONITOR_HTTP_TOKEN"} <= keys


def test_overlay_sets_namespace_image_secret_and_release_label() -> None:
    """The example overlay namespaces everything, pins an image, and labels the operator CRs."""
    rendered = kustomize(OVERLAY)
    docs = documents(rendered)
    namespaced = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {"smartlead"}
    (container,) = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith("smartlead-monitor:0.1.0")
    assert "/" in container["image"]
    secret = by_kind(rendered, "Secret")
    assert secret["metadata"]["name"] == "smartlead-monitor"  # no hash: the CR refers to it
    for kind in OPERATOR_KINDS:
        assert by_kind(rendered, kind)["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    policy = by_kind(rendered, "NetworkPolicy")
    pod_labels = by_kind(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
