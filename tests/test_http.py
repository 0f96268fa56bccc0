"""HTTP endpoints of contract §7 and their auth (§10), over a real loopback server."""

from __future__ import annotations

import asyncio
import base64
import gzip
import shutil
import socket
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from monitor import views
from monitor.config import HttpAuth
from monitor.core.model import AccountRef, Issue, IssueKey, IssueKind, PollKind
from monitor.gzipparts import GzipParts, crc32_combine
from monitor.http import accepts_gzip, create_app
from monitor.metrics import MetricsExposition, SelfMetrics, render_fleet, render_workspace
from monitor.packed import Part
from monitor.smartlead.models import Account
from monitor.store import PollStatus, WorkspaceState

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
INTERVAL = 300.0
TOKEN = "s3cret-token-canary"


def account(account_id: int, email: str) -> Account:
    return Account(account_id, email, "N", "GMAIL", None, False, "535", True, None, 3, 40, None)


def issue(workspace: str, account_id: int | None, kind: IssueKind, firing: bool = True) -> Issue:
    ref = AccountRef(account_id, f"u{account_id}@x.io", "N", "GMAIL", None) if account_id else None
    return Issue(
        key=IssueKey(workspace, account_id, kind),
        account=ref,
        since=T0,
        detail={"error": "535 <b>auth</b>"},
        observed_at=T0,
        firing=firing,
    )


def failure_poll(workspace: str, at: datetime, ok: bool = True, **more: object) -> PollStatus:
    return PollStatus(workspace, PollKind.FAILURE, at, ok, 1.5, **more)  # type: ignore[arg-type]


def fleet() -> dict[str, WorkspaceState]:
    acme_issues = [
        issue("acme", 7, IssueKind.SMTP_FAILED),
        issue("acme", 7, IssueKind.REPUTATION_LOW),
        issue("acme", 8, IssueKind.IMAP_FAILED, firing=False),
    ]
    return {
        "acme": WorkspaceState(
            accounts={7: account(7, "u7@x.io"), 8: account(8, "u8@x.io")},
            issues={i.key: i for i in acme_issues},
            polls={PollKind.FAILURE: failure_poll("acme", T0)},
        ),
        "beta": WorkspaceState(
            issues={
                IssueKey("beta", None, IssueKind.API_AUTH_FAILED): issue(
                    "beta", None, IssueKind.API_AUTH_FAILED
                )
            },
            polls={
                PollKind.FAILURE: failure_poll(
                    "beta", T0, ok=False, error="401 unauthorized", last_success_at=T0
                )
            },
        ),
    }


def silenced(issue: Issue) -> bool:
    return issue.key.kind is IssueKind.REPUTATION_LOW


@dataclass
class FleetView:
    """The daemon's view, reduced to state plus a clock the test drives."""

    states: dict[str, WorkspaceState] = field(default_factory=fleet)
    now: datetime = T0
    is_alive: bool = True
    pending: dict[str, int] = field(default_factory=lambda: {"slack": 2})
    exposition: MetricsExposition = field(
        default_factory=lambda: MetricsExposition(SelfMetrics(["acme", "beta"], ["slack"], "t"))
    )

    def alive(self) -> bool:
        return self.is_alive

    def readiness(self) -> tuple[bool, dict[str, object]]:
        return views.readiness(self.states, self.now, INTERVAL)

    def metrics(self, gzip: bool) -> Sequence[Part]:
        return self.exposition.gzip_parts() if gzip else self.exposition.parts()

    def issues(self) -> list[dict[str, object]]:
        return views.issues_json(self.states, silenced)

    def status(self) -> dict[str, object]:
        return views.status_json(self.states, self.pending, self.now)


@asynccontextmanager
async def serve(
    view: FleetView, auth: HttpAuth | None = None
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app(view, auth or HttpAuth())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


# --- the pure builders -------------------------------------------------------------------


def test_issues_json_lists_firing_issues_only() -> None:
    """Open issues carry the contract's fields; pending ones are not listed; silenced is set."""
    assert views.issues_json(fleet(), silenced) == [
        {
            "workspace": "acme",
            "account_id": 7,
            "email": "u7@x.io",
            "kind": "reputation_low",
            "since": "2026-11-28T10:00:00Z",
            "detail": {"error": "535 <b>auth</b>"},
            "silenced": True,
        },
        {
            "workspace": "acme",
            "account_id": 7,
            "email": "u7@x.io",
            "kind": "smtp_failed",
            "since": "2026-11-28T10:00:00Z",
            "detail": {"error": "535 <b>auth</b>"},
            "silenced": False,
        },
        {
            "workspace": "beta",
            "account_id": None,
            "email": None,
            "kind": "api_auth_failed",
            "since": "2026-11-28T10:00:00Z",
            "detail": {"error": "535 <b>auth</b>"},
            "silenced": False,
        },
    ]


def test_status_json_shape() -> None:
    """Status shows each workspace's polls, counts and the outbox backlog per notifier."""
    status = views.status_json(fleet(), {"slack": 2, "hook": 1}, T0 + timedelta(seconds=60))
    acme = status["workspaces"]["acme"]  # type: ignore[index]
    assert acme["accounts"] == 2
    assert acme["open_issues"] == 2
    assert acme["pending_issues"] == 1
    assert acme["open_issues_by_kind"]["smtp_failed"] == 1
    assert acme["polls"]["inventory"] is None
    assert acme["polls"]["failure"] == {
        "last_poll_at": "2026-11-28T10:00:00Z",
        "outcome": "ok",
        "error": None,
        "duration_seconds": 1.5,
        "last_success_at": "2026-11-28T10:00:00Z",
        "last_success_age_seconds": 60.0,
        "accounts": None,
    }
    beta_failure = status["workspaces"]["beta"]["polls"]["failure"]  # type: ignore[index]
    assert beta_failure["outcome"] == "failed"
    assert beta_failure["error"] == "401 unauthorized"
    assert status["outbox"] == {"pending": {"hook": 1, "slack": 2}, "total": 3}
    assert status["generated_at"] == "2026-11-28T10:01:00Z"


@pytest.mark.parametrize(
    ("age", "ready"),
    [(0.0, True), (3 * INTERVAL, True), (3 * INTERVAL + 1, False)],
)
def test_readiness_window_is_three_poll_intervals(age: float, ready: bool) -> None:
    """A workspace stays ready up to three poll intervals after its last successful poll."""
    states = {"acme": WorkspaceState(polls={PollKind.FAILURE: failure_poll("acme", T0)})}
    assert views.readiness(states, T0 + timedelta(seconds=age), INTERVAL)[0] is ready


def test_readiness_names_stale_and_never_polled_workspaces() -> None:
    """The reason lists each stale workspace with its last success and last error."""
    states = fleet() | {"gamma": WorkspaceState()}
    ready, body = views.readiness(states, T0 + timedelta(hours=1), INTERVAL)
    assert not ready
    assert body["reason"] == "failure poll stale for: acme, beta, gamma"
    stale = {entry["workspace"]: entry for entry in body["stale"]}  # type: ignore[attr-defined]
    assert stale["beta"]["last_error"] == "401 unauthorized"
    assert stale["beta"]["last_success_at"] == "2026-11-28T10:00:00Z"
    assert stale["gamma"]["reason"] == "no successful failure poll yet"
    assert views.readiness({}, T0, INTERVAL)[0] is False


# --- the endpoints -----------------------------------------------------------------------


async def test_metrics_endpoint_serves_text_format() -> None:
    """/metrics answers the exposition with the Prometheus 0.0.4 content type."""
    view = FleetView()
    view.exposition.update_fleet(render_fleet(view.states, per_account=True, reputation_low=0.8))
    async with serve(view) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"smartlead_issue_open", "smartlead_monitor_build_info", "smartlead_accounts"} <= names


async def test_metrics_body_is_the_exposition_in_parts() -> None:
    """Parts are written back to back with the right length."""
    view = FleetView()
    view.exposition.update_fleet(b"x" * (3 << 20) + b"\n")  # several write slices
    plain = {"Accept-Encoding": "identity"}
    async with serve(view) as client:
        response = await client.get("/metrics", headers=plain)
        body = await response.read()
        assert body == view.exposition.render()
        assert response.headers["Content-Length"] == str(len(body))
        assert "Content-Encoding" not in response.headers
        head = await client.head("/metrics", headers=plain)
        assert (head.status, await head.read()) == (200, b"")
        again = await client.get("/metrics", headers=plain)
        assert await again.read() == body  # the connection is still sound after HEAD


async def test_metrics_gzip_is_one_valid_member() -> None:
    """With Accept-Encoding gzip the body is a single gzip member of the exposition."""
    view = FleetView()
    view.exposition.update_fleet(render_fleet(view.states, per_account=True, reputation_low=0.8))
    async with serve(view) as client:
        for _ in range(2):  # the second scrape reuses the compressed fleet
            response = await client.get(
                "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
            )
            raw = await response.read()
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Vary"] == "Accept-Encoding"
            assert response.headers["Content-Length"] == str(len(raw))
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            assert decoder.decompress(raw) == view.exposition.render()
            assert decoder.eof
            assert decoder.unused_data == b""


def test_gzip_parts_compress_each_part_once() -> None:
    """A part that is the same object as last scrape keeps its compressed segment."""
    fleet_part, encoder = b"fleet\n" * 1000, GzipParts()
    first = encoder.encode([b"self 1\n", fleet_part])
    second = encoder.encode([b"self 2\n", fleet_part])
    assert first[2] is second[2]
    assert gzip.decompress(b"".join(second)) == b"self 2\n" + fleet_part


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    """The combined CRC of two pieces equals zlib's CRC of their concatenation."""
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("identity", False),
        ("x-gzip", False),
        ("", False),
    ],
)
def test_accepts_gzip(header: str, gzip_ok: bool) -> None:
    """Accept-Encoding is read per coding and honours q=0."""
    assert accepts_gzip(header) is gzip_ok


async def test_healthz_follows_liveness_only() -> None:
    """/healthz is 200 while alive and 503 once the loop or scheduler died."""
    view = FleetView(now=T0 + timedelta(days=1))  # stale polls do not matter for liveness
    async with serve(view) as client:
        response = await client.get("/healthz")
        assert (response.status, await response.json()) == (200, {"status": "ok"})
        view.is_alive = False
        assert (await client.get("/healthz")).status == 503


async def test_readyz_turns_ready_after_a_fresh_poll() -> None:
    """/readyz is 503 with the stale workspaces, then 200 once each had a fresh failure poll."""
    view = FleetView(now=T0 + timedelta(seconds=4 * INTERVAL))
    async with serve(view) as client:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert [entry["workspace"] for entry in body["stale"]] == ["acme", "beta"]
        for workspace, state in view.states.items():
            state.polls[PollKind.FAILURE] = failure_poll(workspace, view.now)
        response = await client.get("/readyz")
        assert (response.status, (await response.json())["status"]) == (200, "ready")


async def test_api_endpoints_answer_json() -> None:
    """/api/v1/issues and /api/v1/status answer the builders' JSON, uncached."""
    view = FleetView()
    async with serve(view) as client:
        issues = await client.get("/api/v1/issues")
        assert issues.status == 200
        assert issues.headers["Cache-Control"] == "no-store"
        assert [row["kind"] for row in await issues.json()] == [
            "reputation_low",
            "smtp_failed",
            "api_auth_failed",
        ]
        status = await client.get("/api/v1/status")
        assert (await status.json())["outbox"]["total"] == 2


async def test_unknown_path_is_404() -> None:
    """Paths outside the contract are not found."""
    async with serve(FleetView()) as client:
        assert (await client.get("/api/v1/nope")).status == 404
        assert (await client.post("/metrics")).status == 405


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


BEARER = HttpAuth(bearer_token=SecretStr(TOKEN))
BASIC = HttpAuth(username="ops", password=SecretStr("pa:ss"))
BOTH = HttpAuth(bearer_token=SecretStr(TOKEN), username="ops", password=SecretStr("pa:ss"))


@pytest.mark.parametrize(
    ("auth", "header", "status"),
    [
        (BEARER, None, 401),
        (BEARER, f"Bearer {TOKEN}", 200),
        (BEARER, f"bearer {TOKEN}", 200),
        (BEARER, f"Bearer {TOKEN}x", 401),
        (BEARER, "Bearer ", 401),
        (BEARER, basic("ops", TOKEN), 401),
        (BASIC, basic("ops", "pa:ss"), 200),
        (BASIC, basic("ops", "wrong"), 401),
        (BASIC, basic("root", "pa:ss"), 401),
        (BASIC, "Basic !!!not-base64", 401),
        (BASIC, f"Bearer {TOKEN}", 401),
        (BOTH, basic("ops", "pa:ss"), 200),
        (BOTH, f"Bearer {TOKEN}", 200),
        (HttpAuth(), None, 200),
    ],
)
async def test_auth_guards_every_endpoint_but_the_probes(
    auth: HttpAuth, header: str | None, status: int
) -> None:
    """With credentials configured, every endpoint but the probes needs them (bearer or basic)."""
    headers = {"Authorization": header} if header else {}
    async with serve(FleetView(), auth) as client:
        for path in ("/metrics", "/api/v1/issues", "/api/v1/status"):
            response = await client.get(path, headers=headers)
            assert response.status == status, path
            if status == 401:
                assert "WWW-Authenticate" in response.headers
                assert TOKEN not in await response.text()
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status in (200, 503)  # never 401: probes are open


async def test_unauthorized_answer_offers_each_configured_scheme() -> None:
    """A 401 challenges with every configured scheme so clients know what to send."""
    async with serve(FleetView(), BOTH) as client:
        response = await client.get("/api/v1/issues")
        assert response.status == 401
        assert response.headers.getall("WWW-Authenticate") == [
            'Bearer realm="smartlead-monitor"',
            'Basic realm="smartlead-monitor", charset="UTF-8"',
        ]


@pytest.mark.parametrize(
    "auth",
    # model_construct skips the config validator: create_app must refuse on its own too
    [HttpAuth.model_construct(username="ops"), HttpAuth.model_construct(password=SecretStr("p"))],
)
def test_half_configured_basic_auth_is_refused(auth: HttpAuth) -> None:
    """A username without a password (or the reverse) never leaves the endpoints open."""
    with pytest.raises(ValueError, match="both username and password"):
        create_app(FleetView(), auth)


def big_fleet(size: int) -> dict[str, WorkspaceState]:
    """Two workspaces of generated accounts: enough for many gzip parts."""
    states: dict[str, WorkspaceState] = {}
    for workspace in ("acme", "beta"):
        state = WorkspaceState(polls={PollKind.FAILURE: failure_poll(workspace, T0)})
        for i in range(size):
            state.accounts[i] = account(i, f'u{i}"q\\@{workspace}.io')
        states[workspace] = state
    return states


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.slow  # Prometheus hands static targets to the scraper after ~5 s
async def test_real_prometheus_scrapes_every_series_with_bearer_auth(tmp_path: Path) -> None:
    """Prometheus itself scrapes /metrics (gzip, bearer token) and stores every series."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: install the Debian package 'prometheus'")
    view = FleetView(states=big_fleet(2000))
    for name, state in view.states.items():
        view.exposition.update_workspace(
            name, render_workspace(name, state, per_account=True, reputation_low=0.8)
        )
    async with serve(view, BEARER) as client:
        web_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: monitor\n"
            f"    authorization: {{credentials: {TOKEN}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{client.port}']}}]\n"
        )
        process = await asyncio.create_subprocess_exec(
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            query = "count(smartlead_account_daily_sent) + on() group_left count(up == 1)"
            result = await wait_for_query(web_port, query)
        finally:
            process.terminate()
            await process.wait()
    assert result == 4000 + 1  # every account of both workspaces, and the target is up


async def wait_for_query(port: int, query: str) -> float:
    """Ask Prometheus until the query has a value: it scrapes on its own schedule."""
    url = f"http://127.0.0.1:{port}/api/v1/query"
    async with aiohttp.ClientSession() as session:
        for _ in range(150):
            try:
                async with session.get(url, params={"query": query}) as response:
                    data = await response.json()
                    if response.status == 200 and data["data"]["result"]:
                        return float(data["data"]["result"][0]["value"][1])
            except aiohttp.ClientConnectionError:
                pass  # still starting
            await asyncio.sleep(0.1)
    pytest.fail(f"Prometheus never answered {query!r}")
