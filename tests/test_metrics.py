"""Metrics of contract §8: fleet families rendered from state, self-metrics, the exposition."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import structs
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.core.health import Source, verdicts
from monitor.core.model import (
    AccountRef,
    Event,
    Issue,
    IssueKey,
    IssueKind,
    PollKind,
    Status,
)
from monitor.metrics import (
    CHUNK_ACCOUNTS,
    FLEET_FAMILIES,
    MetricsExposition,
    SelfMetrics,
    render_fleet,
    render_workspace,
)
from monitor.packed import Packed, unpack
from monitor.smartlead.models import Account, WarmupDetails
from monitor.store import PollStatus, WorkspaceState

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
WEIRD_EMAIL = 'we"ird\\name\nx@example.com'

HEALTHY = Account(
    id=1,
    email="a@example.com",
    from_name="A",
    esp="GMAIL",
    client_id=None,
    is_smtp_success=True,
    smtp_failure_error=None,
    is_imap_success=True,
    imap_failure_error=None,
    daily_sent_count=12,
    message_per_day=40,
    warmup=WarmupDetails(status="ACTIVE", reputation=0.95, is_blocked=False, blocked_reason=None),
)


def account(account_id: int, **changes: object) -> Account:
    fields: dict[str, object] = {"email": f"user{account_id}@example.com", **changes}
    return structs.replace(HEALTHY, id=account_id, **fields)


def issue(workspace: str, account_id: int | None, kind: IssueKind, *, firing: bool = True) -> Issue:
    ref = None
    if account_id is not None:
        ref = AccountRef(account_id, f"user{account_id}@example.com", "U", "GMAIL", None)
    return Issue(
        key=IssueKey(workspace, account_id, kind),
        account=ref,
        since=T0,
        detail={"error": "535 auth failed"},
        observed_at=T0,
        firing=firing,
        failing_streak=1,
    )


def small_fleet() -> dict[str, WorkspaceState]:
    """Two workspaces; acme has GMAIL/no-client and OUTLOOK/client 7 accounts in every state."""
    blocked = WarmupDetails(status="ACTIVE", reputation=0.5, is_blocked=True, blocked_reason="x")
    acme_accounts = [
        account(1),
        account(2, is_smtp_success=False, smtp_failure_error="535"),
        account(3, esp="OUTLOOK", client_id=7, is_imap_success=False, warmup=blocked),
        account(
            4,
            esp="OUTLOOK",
            client_id=7,
            warmup=WarmupDetails(status=None, reputation=None, is_blocked=None, blocked_reason="y"),
            daily_sent_count=None,
        ),
        account(5, email=WEIRD_EMAIL, warmup=None, message_per_day=None),
        account(6, is_smtp_success=None, is_imap_success=None),  # the API did not say
        account(
            7,  # paused warmup: low reputation is not counted
            warmup=WarmupDetails(
                status="PAUSED", reputation=0.1, is_blocked=False, blocked_reason=None
            ),
        ),
    ]
    acme_issues = [
        issue("acme", 2, IssueKind.SMTP_FAILED),
        issue("acme", 3, IssueKind.IMAP_FAILED, firing=False),  # pending under threshold
        issue("acme", 3, IssueKind.WARMUP_BLOCKED),
        issue("acme", None, IssueKind.API_UNAVAILABLE),
    ]
    return {
        "acme": WorkspaceState(
            accounts={a.id: a for a in acme_accounts},
            issues={i.key: i for i in acme_issues},
        ),
        "beta": WorkspaceState(accounts={10: account(10, esp="SMTP", client_id=3)}),
    }


def fleet_text(*, per_account: bool = True) -> str:
    return render_fleet(small_fleet(), per_account=per_account, reputation_low=0.8).decode()


@pytest.mark.parametrize(
    "line",
    [
        'smartlead_accounts{workspace="acme",esp="GMAIL",client_id="none"} 5',
        'smartlead_accounts{workspace="acme",esp="OUTLOOK",client_id="7"} 2',
        'smartlead_accounts{workspace="beta",esp="SMTP",client_id="3"} 1',
        'smartlead_accounts_smtp_failing{workspace="acme",esp="GMAIL",client_id="none"} 1',
        'smartlead_accounts_smtp_failing{workspace="acme",esp="OUTLOOK",client_id="7"} 0',
        'smartlead_accounts_imap_failing{workspace="acme",esp="OUTLOOK",client_id="7"} 1',
        'smartlead_accounts_imap_failing{workspace="beta",esp="SMTP",client_id="3"} 0',
        'smartlead_accounts_warmup_blocked{workspace="acme",esp="OUTLOOK",client_id="7"} 2',
        'smartlead_accounts_warmup_blocked{workspace="acme",esp="GMAIL",client_id="none"} 0',
        'smartlead_accounts_reputation_low{workspace="acme",esp="OUTLOOK",client_id="7"} 1',
        'smartlead_accounts_reputation_low{workspace="acme",esp="GMAIL",client_id="none"} 0',
        'smartlead_account_warmup_reputation_ratio{workspace="acme",account_id="1",'
        'email="user1@example.com"} 0.95',
        'smartlead_account_daily_sent{workspace="acme",account_id="1",'
        'email="user1@example.com"} 12',
        'smartlead_account_daily_limit{workspace="beta",account_id="10",'
        'email="user10@example.com"} 40',
        'smartlead_issue_open{workspace="acme",account_id="2",email="user2@example.com",'
        'kind="smtp_failed"} 1',
        'smartlead_issue_open{workspace="acme",kind="api_unavailable"} 1',
        'smartlead_account_daily_sent{workspace="acme",account_id="5",'
        'email="we\\"ird\\\\name\\nx@example.com"} 12',
        "# TYPE smartlead_accounts gauge",
        "# HELP smartlead_issue_open 1 for every firing issue; gone once it resolves.",
    ],
)
def test_render_fleet_lines(line: str) -> None:
    """Each group, per-account and open-issue series renders exactly as operators query it."""
    assert line in fleet_text().splitlines()


@pytest.mark.parametrize(
    "fragment",
    [
        'account_id="3",email="user3@example.com",kind="imap_failed"',  # pending, not open
        'smartlead_account_warmup_reputation_ratio{workspace="acme",account_id="5"',  # no warmup
        'smartlead_account_warmup_reputation_ratio{workspace="acme",account_id="4"',  # unreadable
        'smartlead_account_daily_sent{workspace="acme",account_id="4"',  # API gave no count
        'smartlead_account_daily_limit{workspace="acme",account_id="5"',
        'account_id=""',
    ],
)
def test_render_fleet_omits(fragment: str) -> None:
    """Pending issues, unknown per-account values and empty account labels are not exported."""
    assert fragment not in fleet_text()


def test_weird_email_round_trips_through_the_parser() -> None:
    """Quotes, backslashes and newlines in an email come back intact from a Prometheus parser."""
    families = {f.name: f for f in text_string_to_metric_families(fleet_text())}
    emails = {s.labels["email"] for s in families["smartlead_account_daily_sent"].samples}
    assert WEIRD_EMAIL in emails


warmups = st.one_of(
    st.none(),
    st.builds(
        WarmupDetails,
        status=st.sampled_from([None, "ACTIVE", "PAUSED"]),
        reputation=st.one_of(st.none(), st.sampled_from([0.0, 0.5, 0.79, 0.8, 0.81, 1.0])),
        is_blocked=st.sampled_from([None, True, False]),
        blocked_reason=st.sampled_from([None, "spam trap"]),
    ),
)
fleets = st.lists(
    st.builds(
        lambda i, smtp, imap, warmup: account(
            i, is_smtp_success=smtp, is_imap_success=imap, warmup=warmup
        ),
        st.integers(0, 10_000),
        st.sampled_from([None, True, False]),
        st.sampled_from([None, True, False]),
        warmups,
    ),
    max_size=20,
)
GAUGE_KINDS = {
    "smartlead_accounts_smtp_failing": IssueKind.SMTP_FAILED,
    "smartlead_accounts_imap_failing": IssueKind.IMAP_FAILED,
    "smartlead_accounts_warmup_blocked": IssueKind.WARMUP_BLOCKED,
    "smartlead_accounts_reputation_low": IssueKind.REPUTATION_LOW,
}


@settings(max_examples=60, deadline=None)
@given(fleets)
def test_group_gauges_agree_with_the_issue_verdicts(accounts: list[Account]) -> None:
    """Each failing gauge counts exactly the accounts an inventory row would open that issue for."""
    state = WorkspaceState(accounts={a.id: a for a in accounts})
    text = render_fleet({"ws": state}, per_account=False, reputation_low=0.8).decode()
    totals = dict.fromkeys(GAUGE_KINDS, 0.0)
    for family in text_string_to_metric_families(text):
        if family.name in totals:
            totals[family.name] = sum(sample.value for sample in family.samples)
    for name, kind in GAUGE_KINDS.items():
        expected = 0
        for a in state.accounts.values():
            verdict = verdicts(a, frozenset({Source.INVENTORY}), 0.8).get(kind)
            expected += verdict is not None and verdict.failing
        assert totals[name] == expected, name


def test_unencodable_email_does_not_break_the_render() -> None:
    """A lone surrogate from the API's JSON is replaced, never a crash of the metrics render."""
    states = {"ws": WorkspaceState(accounts={1: account(1, email="bad\ud800@example.com")})}
    text = render_fleet(states, per_account=True, reputation_low=0.8).decode()
    assert 'email="bad?@example.com"' in text


def test_per_account_off_removes_per_account_families() -> None:
    """With per-account metrics off only the group counts and open issues remain."""
    names = {f.name for f in text_string_to_metric_families(fleet_text(per_account=False))}
    assert names == {
        "smartlead_accounts",
        "smartlead_accounts_smtp_failing",
        "smartlead_accounts_imap_failing",
        "smartlead_accounts_warmup_blocked",
        "smartlead_accounts_reputation_low",
        "smartlead_issue_open",
    }


def test_fleet_families_are_gauges_with_the_declared_names() -> None:
    """Every fleet family parses as a gauge and FLEET_FAMILIES lists exactly what renders."""
    families = list(text_string_to_metric_families(fleet_text()))
    assert [f.name for f in families] == list(FLEET_FAMILIES)
    assert {f.type for f in families} == {"gauge"}
    issue_samples = families[-1].samples
    assert len(issue_samples) == 3  # smtp_failed, warmup_blocked, api_unavailable
    assert {s.value for s in issue_samples} == {1.0}


def test_empty_fleet_still_declares_families() -> None:
    """Before the first inventory the families exist with HELP/TYPE and no samples."""
    text = render_fleet({}, per_account=True, reputation_low=0.8).decode()
    assert text.count("# TYPE ") == len(FLEET_FAMILIES)
    assert [f.samples for f in text_string_to_metric_families(text)] == [[]] * len(FLEET_FAMILIES)


def samples(data: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(data.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(data: bytes, name: str, **labels: str) -> float:
    return samples(data)[(name, tuple(sorted(labels.items())))]


def test_self_metrics_exist_at_zero_from_construction() -> None:
    """Every series that will exist is exported at 0 before anything happened."""
    metrics = SelfMetrics(["acme", "beta"], ["slack", "hook"], "1.2.3")
    found = samples(metrics.render())
    for workspace in ("acme", "beta"):
        for kind in IssueKind:
            for name in ("smartlead_issues_opened_total", "smartlead_issues_resolved_total"):
                assert found[(name, (("kind", kind), ("workspace", workspace)))] == 0
        for poll in PollKind:
            labels = (("poll", poll), ("workspace", workspace))
            assert found[("smartlead_poll_success", labels)] == 0
            assert found[("smartlead_poll_last_success_timestamp_seconds", labels)] == 0
            assert found[("smartlead_poll_duration_seconds_count", labels)] == 0
        key = ("smartlead_api_requests_total", (("code", "200"), ("workspace", workspace)))
        assert found[key] == 0
    for notifier in ("slack", "hook"):
        for result in ("sent", "failed", "dropped"):
            key = (
                "smartlead_notifications_total",
                (("notifier", notifier), ("result", result)),
            )
            assert found[key] == 0
        assert found[("smartlead_outbox_pending", (("notifier", notifier),))] == 0
    assert found[("smartlead_monitor_build_info", (("version", "1.2.3"),))] == 1
    assert not any(name.endswith("_created") for name, _ in found)


def test_self_render_matches_prometheus_client() -> None:
    """The fast self-metrics text carries exactly the samples generate_latest would."""
    metrics = SelfMetrics(["acme", 'we"ird'], ["slack"], "1.0")
    metrics.observe_poll(poll_status(True, T0, duration=0.3))
    metrics.count_request("acme", "429")
    assert samples(metrics.render()) == samples(generate_latest(metrics.registry))


def poll_status(ok: bool, at: datetime, duration: float = 2.0, **more: object) -> PollStatus:
    return PollStatus("acme", PollKind.FAILURE, at, ok, duration, **more)  # type: ignore[arg-type]


def test_observe_poll_sets_success_timestamp_and_duration() -> None:
    """A successful poll sets 1 and its time; a failed one sets 0 and keeps the last success."""
    metrics = SelfMetrics(["acme"], [], "v")
    labels = {"workspace": "acme", "poll": "failure"}
    metrics.observe_poll(poll_status(True, T0, duration=2.0))
    data = metrics.render()
    assert value(data, "smartlead_poll_success", **labels) == 1
    assert value(data, "smartlead_poll_last_success_timestamp_seconds", **labels) == T0.timestamp()
    assert value(data, "smartlead_poll_duration_seconds_bucket", le="1.0", **labels) == 0
    assert value(data, "smartlead_poll_duration_seconds_bucket", le="2.5", **labels) == 1
    assert value(data, "smartlead_poll_duration_seconds_bucket", le="+Inf", **labels) == 1

    metrics.observe_poll(poll_status(False, T0 + timedelta(minutes=5), duration=4000.0))
    data = metrics.render()
    assert value(data, "smartlead_poll_success", **labels) == 0
    assert value(data, "smartlead_poll_last_success_timestamp_seconds", **labels) == T0.timestamp()
    assert value(data, "smartlead_poll_duration_seconds_bucket", le="1800.0", **labels) == 1
    assert value(data, "smartlead_poll_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert value(data, "smartlead_poll_duration_seconds_sum", **labels) == 4002.0
    assert value(data, "smartlead_poll_duration_seconds_count", **labels) == 2


def test_restore_poll_sets_gauges_without_observing() -> None:
    """After a restart the stored status shows up, and the histogram stays empty."""
    metrics = SelfMetrics(["acme"], [], "v")
    metrics.restore_poll(poll_status(False, T0 + timedelta(hours=1), last_success_at=T0))
    data = metrics.render()
    labels = {"workspace": "acme", "poll": "failure"}
    assert value(data, "smartlead_poll_success", **labels) == 0
    assert value(data, "smartlead_poll_last_success_timestamp_seconds", **labels) == T0.timestamp()
    assert value(data, "smartlead_poll_duration_seconds_count", **labels) == 0


def event(status: Status, kind: IssueKind, *, reminder: bool = False) -> Event:
    return Event(
        id="e",
        key=IssueKey("acme", 1, kind),
        status=status,
        account=None,
        detail={},
        started_at=T0,
        reminder=reminder,
    )


def test_count_events_counts_opened_and_resolved_but_not_reminders() -> None:
    """Opened counts new firing events, resolved counts resolutions; reminders count nothing."""
    metrics = SelfMetrics(["acme"], [], "v")
    metrics.count_events(
        [
            event(Status.FIRING, IssueKind.SMTP_FAILED),
            event(Status.FIRING, IssueKind.SMTP_FAILED, reminder=True),
            event(Status.FIRING, IssueKind.IMAP_FAILED),
            event(Status.RESOLVED, IssueKind.SMTP_FAILED),
        ]
    )
    data = metrics.render()
    opened, resolved = "smartlead_issues_opened_total", "smartlead_issues_resolved_total"
    assert value(data, opened, workspace="acme", kind="smtp_failed") == 1
    assert value(data, opened, workspace="acme", kind="imap_failed") == 1
    assert value(data, resolved, workspace="acme", kind="smtp_failed") == 1
    assert value(data, resolved, workspace="acme", kind="imap_failed") == 0


def test_requests_notifications_and_outbox() -> None:
    """API codes appear as seen; notification results are checked; pending resets to 0."""
    metrics = SelfMetrics(["acme"], ["slack", "hook"], "v")
    metrics.count_request("acme", "429")
    metrics.count_request("acme", "429")
    metrics.count_request("acme", "200")
    metrics.count_notification("slack", "dropped")
    with pytest.raises(ValueError, match="unknown notification result"):
        metrics.count_notification("slack", "lost")
    metrics.set_outbox_pending({"slack": 4, "hook": 2})
    metrics.set_outbox_pending({"slack": 3})
    data = metrics.render()
    assert value(data, "smartlead_api_requests_total", workspace="acme", code="429") == 2
    assert value(data, "smartlead_api_requests_total", workspace="acme", code="200") == 1
    assert value(data, "smartlead_notifications_total", notifier="slack", result="dropped") == 1
    assert value(data, "smartlead_outbox_pending", notifier="slack") == 3
    assert value(data, "smartlead_outbox_pending", notifier="hook") == 0
    assert metrics.outbox_pending == {"hook": 0, "slack": 3}


def full_exposition(per_workspace: bool = False) -> bytes:
    metrics = SelfMetrics(["acme", "beta"], ["slack"], "0.1.0")
    metrics.observe_poll(poll_status(True, T0))
    exposition = MetricsExposition(metrics)
    if per_workspace:
        for workspace, state in small_fleet().items():
            exposition.update_workspace(
                workspace,
                render_workspace(workspace, state, per_account=True, reputation_low=0.8),
            )
    else:
        exposition.update_fleet(render_fleet(small_fleet(), per_account=True, reputation_low=0.8))
    return exposition.render()


def test_per_workspace_exposition_equals_the_whole_fleet_render() -> None:
    """Assembling per-workspace renders gives the same body as one render of the fleet."""
    assert full_exposition(per_workspace=True) == full_exposition()


def test_updating_one_workspace_keeps_the_others() -> None:
    """A cycle of one workspace replaces its series only; families stay grouped."""
    exposition = MetricsExposition(SelfMetrics(["acme", "beta"], [], "v"))
    states = small_fleet()
    for workspace, state in states.items():
        exposition.update_workspace(
            workspace, render_workspace(workspace, state, per_account=False, reputation_low=0.8)
        )
    beta = WorkspaceState(
        accounts={11: account(11, esp="SMTP", client_id=3)} | states["beta"].accounts
    )
    exposition.update_workspace(
        "beta", render_workspace("beta", beta, per_account=False, reputation_low=0.8)
    )
    data = exposition.render()
    assert value(data, "smartlead_accounts", workspace="beta", esp="SMTP", client_id="3") == 2
    assert value(data, "smartlead_accounts", workspace="acme", esp="GMAIL", client_id="none") == 5
    text = data.decode()
    assert "smartlead_account_daily_sent" not in text
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(declared) == len(set(declared))


def test_per_account_families_span_chunks_as_one_family() -> None:
    """More accounts than a chunk holds: each per-account family is still declared once,
    with one sample per account, in snapshot order, and gzip gives the same body."""
    count = 2 * CHUNK_ACCOUNTS + 7
    state = WorkspaceState(accounts={i: account(i, daily_sent_count=i) for i in range(count)})
    samples = render_workspace("acme", state, per_account=True, reputation_low=0.8)
    assert len(samples["smartlead_account_daily_sent"]) == 3
    exposition = MetricsExposition(SelfMetrics(["acme"], [], "v"))
    exposition.update_workspace("acme", samples)
    data = exposition.render()
    families = {f.name: f for f in text_string_to_metric_families(data.decode())}
    sent = families["smartlead_account_daily_sent"].samples
    assert [s.value for s in sent] == list(range(count))
    assert len(families["smartlead_account_warmup_reputation_ratio"].samples) == count
    assert zlib.decompress(b"".join(exposition.gzip_parts()), 16 + zlib.MAX_WBITS) == data


def test_per_account_families_are_held_packed() -> None:
    """The per-account chunks stay lz4-packed until written: a fraction of their text."""
    state = WorkspaceState(accounts={i: account(i, daily_sent_count=i) for i in range(500)})
    samples = render_workspace("acme", state, per_account=True, reputation_low=0.8)
    chunk = samples["smartlead_account_daily_sent"][0]
    assert isinstance(chunk, Packed)
    text = chunk.unpack()
    assert len(chunk) == len(text)
    assert text.startswith(b'smartlead_account_daily_sent{workspace="acme",account_id="0"')
    assert chunk.packed_size * 4 < len(text)


@given(st.binary(max_size=5000))
def test_packed_gives_back_its_text(text: bytes) -> None:
    assert unpack(Packed(text)) == text
    assert len(Packed(text)) == len(text)


def test_a_replaced_workspace_leaves_the_gzip_cache() -> None:
    """The compressed segments of a workspace's old samples go when it is re-rendered, so two
    renders of a large fleet never stay in memory together."""
    exposition = MetricsExposition(SelfMetrics(["acme"], [], "v"))
    state = WorkspaceState(accounts={i: account(i) for i in range(50)})
    old = render_workspace("acme", state, per_account=True, reputation_low=0.8)
    exposition.update_workspace("acme", old)
    exposition.gzip_parts()
    old_chunks = [chunk for chunks in old.values() for chunk in chunks]
    watched = [sys.getrefcount(chunk) for chunk in old_chunks]
    exposition.forget("acme")
    after = [sys.getrefcount(chunk) for chunk in old_chunks]
    assert all(a < w for a, w in zip(after, watched, strict=True))  # cache and view let go
    assert b"smartlead_account_daily_sent{" not in exposition.render()


def test_exposition_has_no_duplicate_families() -> None:
    """Self and fleet families are concatenated without any name declared twice."""
    text = full_exposition().decode()
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(declared) == len(set(declared))
    assert set(FLEET_FAMILIES) <= set(declared)
    assert "smartlead_monitor_build_info" in declared


@pytest.mark.parametrize("per_workspace", [False, True])
def test_promtool_check_metrics_passes_on_the_full_exposition(per_workspace: bool) -> None:
    """The real promtool accepts the whole /metrics body (contract §8)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install the Debian package 'prometheus'")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=full_exposition(per_workspace),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == ""  # no lint complaints either
