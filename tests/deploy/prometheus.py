"""A real Prometheus (the Debian binary) on loopback, configured from deploy/prometheus.

The scrape config and rule files are the shipped ones; only the targets, the intervals (1 s,
so rates have samples within seconds) and the storage folder are the test's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .files import PROMETHEUS_CONFIG, RULES, load_yaml
from .tools import require

START_TIMEOUT = 30.0


class PrometheusError(AssertionError):
    """Prometheus did not start, or an API call failed in a way a test cannot use."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One answer of /api/v1/query: `error` is set when Prometheus rejected the expression."""

    expr: str
    result: list[dict[str, Any]]
    error: str | None

    @property
    def has_data(self) -> bool:
        return self.error is None and len(self.result) > 0


@dataclass(slots=True)
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET an API path; 4xx answers carry a JSON error and are returned, not raised."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}{path}?{query}" if query else f"{self.url}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code >= 500:
                raise PrometheusError(f"GET {path} answered {error.code}") from error
            body = json.load(error)
        return body

    def query(self, expr: str) -> QueryResult:
        body = self.api("/api/v1/query", query=expr)
        if body.get("status") != "success":
            return QueryResult(expr, [], f"{body.get('errorType')}: {body.get('error')}")
        return QueryResult(expr, list(body["data"]["result"]), None)

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        """Poll `check` while Prometheus scrapes and evaluates in real time."""
        deadline = time.monotonic() + timeout
        while not check():
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited while waiting for {what}: {self.tail()}")
            if time.monotonic() > deadline:
                raise PrometheusError(f"no {what} within {timeout:.0f} s")
            time.sleep(0.1)

    def wait_for_samples(self, job: str, samples: int) -> None:
        """Until `job` has been scraped successfully `samples` times (rates need two)."""
        expr = f'count_over_time(up{{job="{job}"}}[1m]) >= {samples} and up{{job="{job}"}} == 1'
        self.wait_until(lambda: self.query(expr).has_data, f"{samples} scrapes of {job}")

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-2000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def loopback_config(
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    job_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The shipped prometheus.yml with loopback targets, 1 s intervals and no Alertmanager.

    Every job of `targets` must exist in the shipped config (so its scrape settings are the
    ones tested); jobs not listed there are dropped. `job_settings` adds settings to a job
    (a bearer token, say).
    """
    config: dict[str, Any] = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    missing = set(targets) - set(jobs)
    if missing:
        raise PrometheusError(f"jobs {sorted(missing)} are not in {PROMETHEUS_CONFIG.name}")
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config.pop("alerting", None)
    config["rule_files"] = [str(path) for path in rule_files]
    config["scrape_configs"] = [
        {
            **jobs[name],
            **(job_settings or {}).get(name, {}),
            "scrape_timeout": "1s",
            "static_configs": [{"targets": list(addresses)}],
        }
        for name, addresses in targets.items()
    ]
    return config


@contextmanager
def running_prometheus(
    workdir: Path,
    targets: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path] = (RULES,),
    job_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[PrometheusServer]:
    """Start Prometheus with `targets` per job name ("self" stands for its own address)."""
    binary = require("prometheus")
    port = free_port()
    address = f"127.0.0.1:{port}"
    resolved = {
        job: [address if target == "self" else target for target in job_targets]
        for job, job_targets in targets.items()
    }
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(
        yaml.safe_dump(loopback_config(resolved, rule_files, job_settings)), encoding="utf-8"
    )
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={address}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(f"http://{address}", process, log)
    try:
        server.wait_until(lambda: _ready(server.url), "ready Prometheus", START_TIMEOUT)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
