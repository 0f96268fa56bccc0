"""The issue lifecycle of §5: thresholds, positive evidence, workspace kinds, reminders, ids."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.lifecycle import evaluate, observe, to_confirm
from monitor.core.model import (
    AccountRef,
    Event,
    Issue,
    IssueKey,
    IssueKind,
    PollOutcome,
    PollResult,
    ResolveReason,
    Status,
    event_id,
)

from .factories import (
    WS,
    account,
    at,
    failure_poll,
    inventory,
    key,
    policy,
    poll_failed,
    run,
    smtp_down,
    warmup,
)

SMTP, IMAP, BLOCKED, REPUTATION = (
    IssueKind.SMTP_FAILED,
    IssueKind.IMAP_FAILED,
    IssueKind.WARMUP_BLOCKED,
    IssueKind.REPUTATION_LOW,
)
AUTH, UNAVAILABLE = IssueKind.API_AUTH_FAILED, IssueKind.API_UNAVAILABLE

IMAP_DOWN = account(1, imap=False, imap_error="IMAP login refused")
BLOCKED_ROW = account(1, warmup_details=warmup(reason="spam traps"))
LOW_ROW = account(1, warmup_details=warmup(reputation=0.5))


def tracked(
    kind: IssueKind, account_id: int | None = 1, *, firing: bool = True, workspace: str = WS
) -> dict[IssueKey, Issue]:
    """One tracked issue, as the store would hand it back."""
    issue_key = key(kind, account_id, workspace)
    issue = Issue(
        key=issue_key,
        account=None,
        since=at(-600),
        detail={},
        observed_at=at(-300),
        firing=firing,
        failing_streak=1,
    )
    return {issue_key: issue}


def only(events: Sequence[Event]) -> Event:
    assert len(events) == 1, events
    return events[0]


def flat(steps: Sequence[Sequence[Event]]) -> list[Event]:
    return [event for step in steps for event in step]


# --- §5: every row fires, with its detail -------------------------------------------------

FIRES: list[tuple[str, IssueKind, PollOutcome, dict[str, Any]]] = [
    (
        "smtp_failed from the smtp answer",
        SMTP,
        failure_poll([smtp_down()]),
        {"error": "535 Authentication failed"},
    ),
    (
        "smtp_failed from the inventory",
        SMTP,
        inventory(smtp_down()),
        {"error": "535 Authentication failed"},
    ),
    ("imap_failed from the inventory", IMAP, inventory(IMAP_DOWN), {"error": "IMAP login refused"}),
    (
        "warmup_blocked from the blocked answer",
        BLOCKED,
        failure_poll(warmup_blocked=[account()]),
        {"blocked_reason": None},
    ),
    (
        "warmup_blocked from the flag",
        BLOCKED,
        inventory(account(warmup_details=warmup(blocked=True, reason="r"))),
        {"blocked_reason": "r"},
    ),
    (
        "warmup_blocked from an inventory reason",
        BLOCKED,
        inventory(BLOCKED_ROW),
        {"blocked_reason": "spam traps"},
    ),
    (
        "reputation_low from the inventory",
        REPUTATION,
        inventory(LOW_ROW),
        {"reputation": 0.5, "threshold": 0.8},
    ),
    (
        "api_auth_failed from a 401",
        AUTH,
        poll_failed(auth=True, status=401, error="Invalid API Key"),
        {"status": 401, "message": "Invalid API Key"},
    ),
]


@pytest.mark.parametrize(
    ("kind", "outcome", "detail"), [pytest.param(*case[1:], id=case[0]) for case in FIRES]
)
def test_each_kind_fires(kind: IssueKind, outcome: PollOutcome, detail: dict[str, Any]) -> None:
    """One failing observation at threshold 1 fires exactly that kind with its §5 detail."""
    transition = evaluate({}, outcome, policy())
    event = only(transition.events)
    issue_key = key(kind)
    assert event.key == issue_key
    assert event.status is Status.FIRING
    assert not event.reminder
    assert dict(event.detail) == detail
    assert event.started_at == outcome.at
    assert event.resolved_at is None
    assert event.id == event_id(issue_key, outcome.at, Status.FIRING)
    assert transition.issues[issue_key].firing
    if kind.workspace_level:
        assert event.account is None
    else:
        assert isinstance(outcome, PollResult)
        assert event.account == AccountRef.of(outcome.rows[1])


HEALS: list[tuple[str, IssueKind, PollOutcome, PollOutcome]] = [
    ("smtp_failed", SMTP, inventory(smtp_down()), inventory(account(), seconds=300)),
    ("imap_failed", IMAP, inventory(IMAP_DOWN), inventory(account(), seconds=300)),
    ("warmup_blocked", BLOCKED, inventory(BLOCKED_ROW), inventory(account(), seconds=300)),
    ("reputation_low", REPUTATION, inventory(LOW_ROW), inventory(account(), seconds=300)),
    ("api_auth_failed", AUTH, poll_failed(auth=True, status=401), failure_poll(seconds=300)),
]


@pytest.mark.parametrize(
    ("kind", "failing", "healthy"), [pytest.param(*case[1:], id=case[0]) for case in HEALS]
)
def test_each_kind_resolves(kind: IssueKind, failing: PollOutcome, healthy: PollOutcome) -> None:
    """A healthy observation resolves a firing issue as `recovered`, keeping its start."""
    issues, steps = run([failing, healthy], policy())
    event = only(steps[1])
    assert event.key == key(kind)
    assert event.status is Status.RESOLVED
    assert event.reason is ResolveReason.RECOVERED
    assert event.started_at == failing.at
    assert event.resolved_at == healthy.at
    assert event.id == event_id(key(kind), failing.at, Status.RESOLVED)
    assert key(kind) not in issues


def test_transition_lists_what_to_write_and_delete() -> None:
    """A fire is upserted, a resolve is removed, and `issues` is the whole state after."""
    fired = evaluate({}, inventory(smtp_down()), policy())
    assert [i.key for i in fired.upserted] == [key(SMTP)]
    assert fired.removed == []
    healed = evaluate(fired.issues, inventory(account(), seconds=300), policy())
    assert healed.removed == [key(SMTP)]
    assert healed.issues == {}


# --- workspace-level kinds ------------------------------------------------------------------


def test_auth_failure_fires_once() -> None:
    """Repeated 401s keep one api_auth_failed open and notify it once."""
    outcomes = [poll_failed(seconds=300 * i, auth=True, status=401) for i in range(4)]
    issues, steps = run(outcomes, policy())
    assert [len(step) for step in steps] == [1, 0, 0, 0]
    assert issues[key(AUTH)].firing
    assert key(UNAVAILABLE) not in issues


def test_api_unavailable_fires_on_the_third_failure() -> None:
    """Two failed polls stay quiet; the third fires with the last error."""
    outcomes = [poll_failed(seconds=300 * i, error=f"HTTP 50{i}", status=500 + i) for i in range(4)]
    issues, steps = run(outcomes, policy())
    assert [len(step) for step in steps] == [0, 0, 1, 0]
    event = only(steps[2])
    assert event.key == key(UNAVAILABLE)
    assert event.detail == {"error": "HTTP 502", "status": 502}
    assert event.started_at == at(0)
    assert issues[key(UNAVAILABLE)].detail == {"error": "HTTP 503", "status": 503}


def test_workspace_kinds_ignore_account_thresholds() -> None:
    """Account thresholds leave api_auth_failed at 1 failure and api_unavailable at 3."""
    rules = policy(failure=5, success=4)
    _, auth_steps = run([poll_failed(auth=True, status=401)], rules)
    assert len(auth_steps[0]) == 1
    _, steps = run([poll_failed(seconds=300 * i) for i in range(3)], rules)
    assert [len(step) for step in steps] == [0, 0, 1]
    _, heal = run(
        [*(poll_failed(seconds=300 * i) for i in range(3)), failure_poll(seconds=900)], rules
    )
    assert only(heal[3]).status is Status.RESOLVED


def test_workspace_kind_threshold_can_be_overridden() -> None:
    """A per-kind setting for api_unavailable replaces its default streak."""
    rules = policy(per_kind={UNAVAILABLE: (2, 1)})
    _, steps = run([poll_failed(seconds=300 * i) for i in range(2)], rules)
    assert [len(step) for step in steps] == [0, 1]


def test_successful_poll_resolves_both_workspace_kinds() -> None:
    """One successful poll, of either kind, resolves api_auth_failed and api_unavailable."""
    failures = [
        poll_failed(seconds=0, auth=True, status=401),
        *(poll_failed(seconds=300 * i) for i in range(1, 4)),
    ]
    for healthy in (failure_poll(seconds=1200), inventory(seconds=1200)):
        issues, steps = run([*failures, healthy], policy())
        assert {e.key.kind for e in flat(steps[:4])} == {AUTH, UNAVAILABLE}
        resolved = steps[4]
        assert {e.key.kind for e in resolved} == {AUTH, UNAVAILABLE}
        assert all(e.status is Status.RESOLVED for e in resolved)
        assert issues == {}


def test_a_success_resets_the_unavailable_streak() -> None:
    """Failures interrupted by one good poll never add up to api_unavailable."""
    outcomes: list[PollOutcome] = [
        poll_failed(seconds=0),
        poll_failed(seconds=300),
        failure_poll(seconds=600),
        poll_failed(seconds=900),
        poll_failed(seconds=1200),
    ]
    issues, steps = run(outcomes, policy())
    assert flat(steps) == []
    assert issues[key(UNAVAILABLE)].failing_streak == 2


# --- flap protection --------------------------------------------------------------------------


def test_failure_threshold_counts_consecutive_failing_observations() -> None:
    """With failure_threshold 3 the issue fires on the third failing row, dated from the first."""
    outcomes = [failure_poll([smtp_down()], seconds=300 * i) for i in range(4)]
    issues, steps = run(outcomes, policy(failure=3))
    assert [len(step) for step in steps] == [0, 0, 1, 0]
    assert only(steps[2]).started_at == at(0)
    assert issues[key(SMTP)].since == at(0)


def test_a_healthy_row_drops_a_pending_issue_silently() -> None:
    """A pending issue that sees health is gone, even with success_threshold > 1."""
    outcomes = [
        inventory(smtp_down(), seconds=0),
        inventory(smtp_down(), seconds=300),
        inventory(account(), seconds=600),
    ]
    issues, steps = run(outcomes, policy(failure=3, success=3))
    assert flat(steps) == []
    assert issues == {}


def test_an_interrupted_failing_streak_starts_over() -> None:
    """fail, fail, healthy, fail, fail never reaches a threshold of 3."""
    rows = [smtp_down(), smtp_down(), account(), smtp_down(), smtp_down()]
    outcomes = [inventory(row, seconds=300 * i) for i, row in enumerate(rows)]
    issues, steps = run(outcomes, policy(failure=3))
    assert flat(steps) == []
    assert issues[key(SMTP)].since == at(900)
    assert issues[key(SMTP)].failing_streak == 2


def test_success_threshold_counts_consecutive_healthy_observations() -> None:
    """With success_threshold 2, one healthy row between failures does not resolve."""
    rows = [smtp_down(), account(), smtp_down(), account(), account()]
    outcomes = [inventory(row, seconds=300 * i) for i, row in enumerate(rows)]
    issues, steps = run(outcomes, policy(success=2))
    assert [[e.status for e in step] for step in steps] == [
        [Status.FIRING],
        [],
        [],
        [],
        [Status.RESOLVED],
    ]
    assert issues == {}
    midway, _ = run(outcomes[:4], policy(success=2))
    assert midway[key(SMTP)].firing
    assert midway[key(SMTP)].healthy_streak == 1


def test_thresholds_are_per_kind() -> None:
    """One row failing SMTP and IMAP fires each kind on its own threshold."""
    row = account(smtp=False, imap=False)
    rules = policy(per_kind={SMTP: (2, 1)})
    _, steps = run([inventory(row, seconds=0), inventory(row, seconds=300)], rules)
    assert [[e.key.kind for e in step] for step in steps] == [[IMAP], [SMTP]]


# --- positive evidence ---------------------------------------------------------------------


def fired_smtp() -> dict[IssueKey, Issue]:
    return evaluate({}, failure_poll([smtp_down()]), policy()).issues


def test_dropping_out_of_the_failing_list_is_not_recovery() -> None:
    """An account missing from the next failure poll stays firing, streaks untouched."""
    issues = fired_smtp()
    transition = evaluate(issues, failure_poll(seconds=300), policy())
    assert transition.events == []
    after, before = transition.issues[key(SMTP)], issues[key(SMTP)]
    assert (after.firing, after.failing_streak, after.healthy_streak) == (True, 1, 0)
    assert (before.since, before.detail) == (after.since, after.detail)


def test_missing_from_the_inventory_is_not_recovery() -> None:
    """An inventory that does not list the account does not resolve its issue."""
    transition = evaluate(fired_smtp(), inventory(account(2), seconds=300), policy())
    assert transition.events == []
    assert transition.issues[key(SMTP)].firing


def test_a_confirmed_healthy_row_resolves() -> None:
    """The by-id row of an account that dropped out is the evidence that resolves it."""
    transition = evaluate(
        fired_smtp(), failure_poll(seconds=300, confirmed={1: account()}), policy()
    )
    event = only(transition.events)
    assert (event.status, event.reason) == (Status.RESOLVED, ResolveReason.RECOVERED)
    assert transition.issues == {}


def test_a_confirmed_failing_row_keeps_firing() -> None:
    """A by-id row that still fails keeps the issue open and counts the failure."""
    confirmed = {1: smtp_down(error="550 mailbox disabled")}
    transition = evaluate(fired_smtp(), failure_poll(seconds=300, confirmed=confirmed), policy())
    assert transition.events == []
    issue = transition.issues[key(SMTP)]
    assert issue.failing_streak == 2
    assert issue.detail == {"error": "550 mailbox disabled"}


def test_a_by_id_row_outranks_the_failing_answer_it_contradicts() -> None:
    """An account in the blocked answer whose own row (asked for its SMTP issue) says the
    warmup runs: the fresher row wins, so no block issue opens, and SMTP resolves."""
    row = account(warmup_details=warmup(blocked=True, reason="spam traps"))
    healthy = account(warmup_details=warmup(blocked=False))
    result = failure_poll(warmup_blocked=[row], seconds=300, confirmed={1: healthy})
    transition = evaluate(fired_smtp(), result, policy())
    assert [(e.key.kind, e.status) for e in transition.events] == [(SMTP, Status.RESOLVED)]
    assert transition.issues == {}


def test_observations_are_the_fleets_trouble_not_the_fleet() -> None:
    """Health is observed only for issues that exist; failures always are."""
    rows = [account(i) for i in range(1, 50)] + [smtp_down(50), IMAP_DOWN]
    tracked = frozenset({key(IMAP)})
    found = observe(inventory(*rows), 0.8, tracked)
    account_keys = {k for k in found if k.account_id is not None}
    assert account_keys == {key(SMTP, 50), key(IMAP)}
    assert found[key(IMAP)] is not None and found[key(IMAP)].failing


def test_a_blocked_account_seen_only_in_the_smtp_answer_is_not_recovered() -> None:
    """A row of the SMTP answer without a warmup flag or reason says nothing about the block."""
    issues = evaluate({}, failure_poll(warmup_blocked=[account()]), policy()).issues
    row = account(smtp=False, warmup_details=warmup())
    result = failure_poll([row], seconds=300)
    transition = evaluate(issues, result, policy())
    assert [e.key.kind for e in transition.events] == [SMTP]
    assert transition.issues[key(BLOCKED)].firing
    assert to_confirm(issues, result) == {1}


def test_a_failure_poll_row_can_heal_imap() -> None:
    """A whole row in a failure-poll answer is positive evidence for IMAP too."""
    issues = evaluate({}, inventory(IMAP_DOWN), policy()).issues
    transition = evaluate(issues, failure_poll([smtp_down()], seconds=300), policy())
    assert {(e.key.kind, e.status) for e in transition.events} == {
        (SMTP, Status.FIRING),
        (IMAP, Status.RESOLVED),
    }


CONFIRMS: list[tuple[str, dict[IssueKey, Issue], PollResult, set[int]]] = [
    ("inventory lists it", tracked(SMTP), inventory(smtp_down()), set()),
    ("inventory omits it", tracked(SMTP), inventory(account(2)), {1}),
    ("inventory omits an imap issue", tracked(IMAP), inventory(), {1}),
    ("still in the smtp answer", tracked(SMTP), failure_poll([smtp_down()]), set()),
    ("dropped out of the smtp answer", tracked(SMTP), failure_poll(), {1}),
    ("only in the blocked answer", tracked(SMTP), failure_poll(warmup_blocked=[account()]), {1}),
    (
        "still in the blocked answer",
        tracked(BLOCKED),
        failure_poll(warmup_blocked=[account()]),
        set(),
    ),
    ("only in the smtp answer", tracked(BLOCKED), failure_poll([smtp_down()]), {1}),
    ("failure poll, imap", tracked(IMAP), failure_poll(), set()),
    ("failure poll, reputation", tracked(REPUTATION), failure_poll(), set()),
    ("a pending issue", tracked(SMTP, firing=False), failure_poll(), {1}),
    ("another workspace", tracked(SMTP, workspace="other"), failure_poll(), set()),
    ("a workspace-level issue", tracked(UNAVAILABLE, None), failure_poll(), set()),
    (
        "several accounts",
        {**tracked(SMTP, 1), **tracked(SMTP, 2), **tracked(SMTP, 3)},
        failure_poll([smtp_down(2)]),
        {1, 3},
    ),
]


@pytest.mark.parametrize(
    ("issues", "result", "wanted"), [pytest.param(*case[1:], id=case[0]) for case in CONFIRMS]
)
def test_to_confirm(issues: dict[IssueKey, Issue], result: PollResult, wanted: set[int]) -> None:
    """Exactly the accounts whose issue this poll could have shown, but did not, are fetched."""
    assert to_confirm(issues, result) == wanted


# --- account_removed ------------------------------------------------------------------------


def test_a_404_resolves_every_firing_issue_of_the_account() -> None:
    """A by-id 404 resolves firing issues as account_removed and drops pending ones."""
    row = account(smtp=False, imap=False, warmup_details=warmup(reason="spam traps"))
    rules = policy(per_kind={BLOCKED: (2, 1)})
    issues = evaluate({}, inventory(row), rules).issues
    assert not issues[key(BLOCKED)].firing
    transition = evaluate(issues, failure_poll(seconds=300, confirmed={1: None}), rules)
    assert {(e.key.kind, e.status, e.reason) for e in transition.events} == {
        (SMTP, Status.RESOLVED, ResolveReason.ACCOUNT_REMOVED),
        (IMAP, Status.RESOLVED, ResolveReason.ACCOUNT_REMOVED),
    }
    assert all(e.account == AccountRef.of(row) for e in transition.events)
    assert transition.issues == {}
    assert set(transition.removed) == {key(SMTP), key(IMAP), key(BLOCKED)}


def test_a_404_for_an_account_without_issues_is_quiet() -> None:
    """A removed account that had no issue emits nothing."""
    transition = evaluate(fired_smtp(), failure_poll(seconds=300, confirmed={7: None}), policy())
    assert transition.events == []
    assert transition.issues[key(SMTP)].firing


# --- failed polls -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [False, True], ids=["unavailable", "401"])
def test_a_failed_poll_leaves_account_issues_alone(auth: bool) -> None:
    """A failed poll neither fires, resolves, nor moves a streak of any account issue."""
    rules = policy(per_kind={IMAP: (2, 2)})
    issues = evaluate({}, inventory(account(smtp=False, imap=False)), rules).issues
    transition = evaluate(issues, poll_failed(seconds=300, auth=auth, status=None), rules)
    assert all(e.key.kind.workspace_level for e in transition.events)
    for issue_key, before in issues.items():
        after = transition.issues[issue_key]
        assert (after.firing, after.failing_streak, after.healthy_streak) == (
            before.firing,
            before.failing_streak,
            before.healthy_streak,
        )
        assert (after.since, after.detail, after.account) == (
            before.since,
            before.detail,
            before.account,
        )
    assert {k for k in transition.issues if not k.kind.workspace_level} == set(issues)


# --- reminders ------------------------------------------------------------------------------

EVERY_HOUR = policy(repeat=3600, max_step=600)


def imap_fired() -> dict[IssueKey, Issue]:
    return evaluate({}, inventory(IMAP_DOWN), EVERY_HOUR).issues


@pytest.mark.parametrize(
    "follow_up",
    [
        lambda s: inventory(IMAP_DOWN, seconds=s),
        lambda s: failure_poll(seconds=s),
        lambda s: poll_failed(seconds=s),
    ],
    ids=["still failing", "not observed", "poll failed"],
)
def test_reminders_come_every_repeat_interval(follow_up: Any) -> None:
    """While firing, a reminder is due after each repeat_interval of firing time."""
    outcomes = [follow_up(300 * i) for i in range(1, 25)]
    _, steps = run(outcomes, EVERY_HOUR, imap_fired())
    reminders = [(i + 1, e) for i, step in enumerate(steps) for e in step if e.key == key(IMAP)]
    assert [poll for poll, _ in reminders] == [12, 24]
    assert all(e.reminder for _, e in reminders)
    first = reminders[0][1]
    assert first.status is Status.FIRING
    assert first.started_at == at(0)
    assert first.id == event_id(key(IMAP), at(0), Status.FIRING, 1)
    assert reminders[1][1].id == event_id(key(IMAP), at(0), Status.FIRING, 2)
    assert first.id != event_id(key(IMAP), at(0), Status.FIRING)
    assert all(e.key == key(IMAP) for _, e in reminders)


def test_no_reminder_before_it_is_due() -> None:
    """Just under repeat_interval of firing time gives no reminder."""
    outcomes = [inventory(IMAP_DOWN, seconds=599 * i) for i in range(1, 7)]
    _, steps = run(outcomes, EVERY_HOUR, imap_fired())
    assert flat(steps) == []


def test_no_reminders_when_repeat_interval_is_zero() -> None:
    """repeat_interval 0 turns reminders off, however long the issue fires."""
    outcomes = [inventory(IMAP_DOWN, seconds=600 * i) for i in range(1, 200)]
    _, steps = run(outcomes, policy(repeat=0, max_step=600), imap_fired())
    assert flat(steps) == []


def test_a_clock_jump_forward_does_not_fire_a_reminder_early() -> None:
    """A poll ten days later counts only max_step of firing time."""
    jump = 10 * 86400
    outcomes = [inventory(IMAP_DOWN, seconds=jump + 300 * i) for i in range(0, 11)]
    _, steps = run(outcomes, EVERY_HOUR, imap_fired())
    assert [len(step) for step in steps] == [0] * 10 + [1]
    assert only(steps[10]).reminder


def test_a_clock_jump_backward_does_not_stop_reminders() -> None:
    """After the clock goes back a day, reminders resume on firing time, not wall time."""
    before = [inventory(IMAP_DOWN, seconds=300 * i) for i in range(1, 7)]  # 1800 s firing
    after = [inventory(IMAP_DOWN, seconds=-86400 + 300 * i) for i in range(0, 7)]
    _, steps = run([*before, *after], EVERY_HOUR, imap_fired())
    assert [len(step) for step in steps] == [0] * 12 + [1]
    assert only(steps[12]).reminder


def test_workspace_issues_remind_too() -> None:
    """A long 401 outage reminds like any firing issue."""
    outcomes = [poll_failed(seconds=600 * i, auth=True, status=401) for i in range(7)]
    _, steps = run(outcomes, EVERY_HOUR)
    assert [[e.reminder for e in step] for step in steps] == [[False], [], [], [], [], [], [True]]


def test_a_resolve_after_reminders_keeps_the_episode() -> None:
    """The resolve of a reminded issue is dated from the original fire."""
    outcomes = [
        *(inventory(IMAP_DOWN, seconds=600 * i) for i in range(1, 7)),
        inventory(account(), seconds=4200),
    ]
    _, steps = run(outcomes, EVERY_HOUR, imap_fired())
    resolved = only(steps[-1])
    assert resolved.status is Status.RESOLVED
    assert resolved.started_at == at(0)
    assert resolved.id == event_id(key(IMAP), at(0), Status.RESOLVED)


# --- ids and replays --------------------------------------------------------------------------

EPISODES = [
    inventory(smtp_down(), seconds=0),
    inventory(smtp_down(), seconds=600),
    inventory(account(), seconds=1200),
    inventory(smtp_down(), seconds=1800),
    inventory(account(), seconds=2400),
]


@given(
    st.text(max_size=20),
    st.none() | st.integers(0, 2**63 - 1),
    st.sampled_from(IssueKind),
    st.sampled_from(Status),
    st.integers(0, 1000),
    st.integers(0, 10**9),
)
def test_event_ids_are_the_uuid5_of_their_name(
    workspace: str, account_id: int | None, kind: IssueKind, status: Status, reminder: int,
    seconds: int,
) -> None:  # fmt: skip
    """Ids are UUIDv5 of the episode's name, as every release wrote them into outboxes."""
    since = at(seconds)
    name = f"{workspace}|{account_id}|{kind}|{since.isoformat()}|{status}|{reminder}"
    expected = uuid.uuid5(uuid.UUID("6b1f3a52-4a43-4b7e-9f0b-6a1c2e1d9a10"), name)
    assert event_id(IssueKey(workspace, account_id, kind), since, status, reminder) == str(expected)


def test_event_ids_are_stable_across_runs() -> None:
    """Replaying the same observations from scratch yields the same events and ids."""
    _, first = run(EPISODES, policy())
    _, second = run(EPISODES, policy())
    assert first == second
    assert [e.id for e in flat(first)] == [
        event_id(key(SMTP), at(0), Status.FIRING),
        event_id(key(SMTP), at(0), Status.RESOLVED),
        event_id(key(SMTP), at(1800), Status.FIRING),
        event_id(key(SMTP), at(1800), Status.RESOLVED),
    ]
    assert len({e.id for e in flat(first)}) == 4


REPLAYS: list[tuple[str, list[PollOutcome]]] = [
    ("a fire", [inventory(smtp_down())]),
    ("a pending failure", [inventory(account(imap=False))]),
    ("a resolve", [inventory(smtp_down()), inventory(account(), seconds=300)]),
    (
        "a due reminder",
        [inventory(smtp_down()), *(inventory(smtp_down(), seconds=600 * i) for i in range(1, 7))],
    ),
    ("a 404", [inventory(smtp_down()), failure_poll(seconds=300, confirmed={1: None})]),
    ("a 401", [poll_failed(auth=True, status=401)]),
    ("api_unavailable", [poll_failed(seconds=300 * i) for i in range(3)]),
    ("a failed poll while firing", [inventory(smtp_down()), poll_failed(seconds=900)]),
]


@pytest.mark.parametrize("outcomes", [pytest.param(c[1], id=c[0]) for c in REPLAYS])
def test_replaying_an_outcome_changes_nothing(outcomes: list[PollOutcome]) -> None:
    """Applying the very same outcome again emits nothing and leaves the issues as they were."""
    rules = policy(repeat=3600, per_kind={IMAP: (2, 1)})
    issues, _ = run(outcomes, rules)
    again = evaluate(issues, outcomes[-1], rules)
    assert again.events == []
    assert again.issues == issues
    assert (again.upserted, again.removed) == ([], [])


def test_another_workspace_is_left_alone() -> None:
    """A poll of one workspace neither observes nor ticks another workspace's issues."""
    theirs = evaluate({}, inventory(smtp_down(), workspace="other"), EVERY_HOUR).issues
    outcomes = [inventory(account(), seconds=3600 * i) for i in range(1, 4)]
    issues, steps = run(outcomes, EVERY_HOUR, theirs)
    assert flat(steps) == []
    assert issues == theirs
