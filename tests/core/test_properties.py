"""Invariants of the lifecycle over random sequences of polls (hypothesis).

A small fleet of two workspaces and three accounts sees random inventory rows, failing
lists, by-id confirmations and 404s, failed polls (401 or not), replays of the last outcome,
and a wall clock that mostly moves forward but sometimes jumps back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.health import Source
from monitor.core.lifecycle import Policy, Transition, evaluate, to_confirm
from monitor.core.model import (
    Event,
    Issue,
    IssueKey,
    IssueKind,
    PollFailure,
    PollKind,
    PollOutcome,
    PollResult,
    ResolveReason,
    Status,
)
from monitor.core.snapshot import diff, merge
from monitor.smartlead.models import Account, WarmupDetails

from .factories import T0, account, policy, warmup

WORKSPACES = ("default", "other")
ACCOUNT_IDS = (1, 2, 3)
MAX_STEP = 600.0
# Gaps between polls in seconds: mostly a poll interval, sometimes long, sometimes backward.
GAPS = (60, 300, 300, 300, 300, 900, 7200, 0, -300, -3600, -86400)

SETTINGS = settings(max_examples=200, deadline=None)

warmups: st.SearchStrategy[WarmupDetails | None] = st.none() | st.builds(
    warmup,
    status=st.sampled_from(["ACTIVE", "PAUSED", None]),
    reputation=st.sampled_from([None, 0.5, 0.8, 0.95]),
    blocked=st.sampled_from([None, True, False]),
    reason=st.sampled_from([None, "spam traps"]),
)


def rows(account_id: int) -> st.SearchStrategy[Account]:
    maybe = st.sampled_from([True, False, None])
    return st.builds(
        lambda smtp, imap, details, error: account(
            account_id, smtp=smtp, smtp_error=error, imap=imap, warmup_details=details
        ),
        maybe,
        maybe,
        warmups,
        st.sampled_from([None, "535 Authentication failed", "550 disabled"]),
    )


def confirmations(ids: Sequence[int]) -> st.SearchStrategy[dict[int, Account | None]]:
    """By-id answers for some accounts: a row, or None for a 404."""
    if not ids:
        return st.just({})
    return st.fixed_dictionaries({}, optional={i: st.none() | rows(i) for i in ids})


@st.composite
def poll_results(draw: st.DrawFn, workspace: str, poll: PollKind) -> PollResult:
    if poll is PollKind.INVENTORY:
        listed = {i: draw(rows(i)) for i in ACCOUNT_IDS if draw(st.booleans())}
        smtp: frozenset[int] = frozenset()
        blocked: frozenset[int] = frozenset()
    else:
        smtp = frozenset(i for i in ACCOUNT_IDS if draw(st.booleans()))
        blocked = frozenset(i for i in ACCOUNT_IDS if draw(st.booleans()))
        listed = {i: draw(rows(i)) for i in sorted(smtp | blocked)}
    confirmed = draw(confirmations(ACCOUNT_IDS))
    return PollResult(workspace, poll, T0, listed, smtp, blocked, confirmed)


@st.composite
def outcomes(draw: st.DrawFn) -> PollOutcome | None:
    """One poll outcome (its time is set later), or None: replay the previous one."""
    workspace = draw(st.sampled_from(WORKSPACES))
    choice = draw(st.sampled_from(["inventory", "failure", "failure", "failed", "replay"]))
    if choice == "replay":
        return None
    if choice == "failed":
        auth = draw(st.booleans())
        return PollFailure(
            workspace,
            draw(st.sampled_from(list(PollKind))),
            T0,
            "401 Unauthorized" if auth else "503 Service Unavailable",
            auth=auth,
            status=401 if auth else draw(st.sampled_from([None, 500, 503])),
        )
    return draw(poll_results(workspace, PollKind(choice)))


@st.composite
def histories(draw: st.DrawFn) -> list[PollOutcome]:
    """A sequence of outcomes with distinct times (replays reuse the very same outcome)."""
    first = draw(outcomes().filter(lambda outcome: outcome is not None))
    drafted = [first, *draw(st.lists(outcomes(), max_size=24))]
    clock = 0.0
    history: list[PollOutcome] = []
    for index, outcome in enumerate(drafted):
        if outcome is None:
            if history:
                history.append(history[-1])
            continue
        clock += draw(st.sampled_from(GAPS))
        # A microsecond per step keeps every poll's time distinct, even after a jump back.
        moment = T0 + timedelta(seconds=clock, microseconds=index)
        history.append(replace(outcome, at=moment))
    return history


policies = st.builds(
    lambda failure, success, repeat: policy(failure, success, repeat=repeat, max_step=MAX_STEP),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([0.0, 600.0, 3600.0]),
)


# --- an independent reading of "this row says the account is healthy for this kind" --------


def row_says_healthy(
    kind: IssueKind, row: Account, sources: frozenset[Source], line: float
) -> bool:
    details = row.warmup
    if kind is IssueKind.SMTP_FAILED:
        return row.is_smtp_success is True
    if kind is IssueKind.IMAP_FAILED:
        return row.is_imap_success is True
    if kind is IssueKind.WARMUP_BLOCKED:
        if Source.WARMUP_BLOCKED in sources:
            return False
        if details is not None and details.is_blocked is not None:
            return details.is_blocked is False
        whole = bool(sources & {Source.INVENTORY, Source.BY_ID})
        return whole and not (details and details.blocked_reason)
    assert kind is IssueKind.REPUTATION_LOW
    return not (
        details is not None
        and details.status == "ACTIVE"
        and details.reputation is not None
        and details.reputation < line
    )


def has_healthy_evidence(kind: IssueKind, account_id: int, result: PollResult, line: float) -> bool:
    """A healthy row for the account in this very outcome, from a list or by id."""
    evidence: list[tuple[Account, frozenset[Source]]] = []
    if account_id in result.rows:
        if result.poll is PollKind.INVENTORY:
            sources = frozenset({Source.INVENTORY})
        else:
            sources = frozenset(
                source
                for source, ids in (
                    (Source.SMTP_FAILING, result.smtp_failing),
                    (Source.WARMUP_BLOCKED, result.warmup_blocked),
                )
                if account_id in ids
            )
        evidence.append((result.rows[account_id], sources))
    confirmed = result.confirmed.get(account_id)
    if confirmed is not None:
        evidence.append((confirmed, frozenset({Source.BY_ID})))
    return any(row_says_healthy(kind, row, sources, line) for row, sources in evidence)


# --- the checks -----------------------------------------------------------------------------


def streaks(issue: Issue) -> tuple[object, ...]:
    return (issue.firing, issue.failing_streak, issue.healthy_streak, issue.since, issue.detail)


def check_resolves_have_evidence(
    outcome: PollOutcome, events: Sequence[Event], line: float
) -> None:
    for event in events:
        if event.status is not Status.RESOLVED:
            continue
        assert isinstance(outcome, PollResult), "a failed poll resolved an issue"
        assert event.key.workspace == outcome.workspace
        account_id = event.key.account_id
        if account_id is None:
            assert event.reason is ResolveReason.RECOVERED
        elif event.reason is ResolveReason.ACCOUNT_REMOVED:
            assert account_id in outcome.confirmed and outcome.confirmed[account_id] is None
        else:
            assert has_healthy_evidence(event.key.kind, account_id, outcome, line), event


def check_failed_poll(
    before: Mapping[IssueKey, Issue], outcome: PollOutcome, transition: Transition
) -> None:
    if not isinstance(outcome, PollFailure):
        return
    accounts_before = {k: streaks(i) for k, i in before.items() if k.account_id is not None}
    accounts_after = {
        k: streaks(i) for k, i in transition.issues.items() if k.account_id is not None
    }
    assert accounts_after == accounts_before
    assert all(e.reminder for e in transition.events if e.key.account_id is not None)


def check_bookkeeping(
    before: Mapping[IssueKey, Issue], outcome: PollOutcome, transition: Transition
) -> None:
    """`issues` is `before` minus `removed` plus `upserted`; other workspaces are untouched."""
    rebuilt = {k: v for k, v in before.items() if k not in transition.removed}
    rebuilt.update({issue.key: issue for issue in transition.upserted})
    assert rebuilt == transition.issues
    for issue_key, issue in before.items():
        if issue_key.workspace != outcome.workspace:
            assert transition.issues[issue_key] is issue
    assert all(e.key.workspace == outcome.workspace for e in transition.events)


@dataclass
class Episodes:
    """What the events told so far: open episodes and when each last fired or reminded."""

    policy: Policy
    open: dict[tuple[IssueKey, object], int]
    closed: set[tuple[IssueKey, object]]
    polls: dict[str, int]

    def see(self, step: int, workspace: str, events: Sequence[Event]) -> None:
        self.polls[workspace] = self.polls.get(workspace, 0) + 1
        polls = self.polls[workspace]
        min_polls = (
            math.ceil(self.policy.repeat_interval / self.policy.max_step)
            if self.policy.repeat_interval
            else 0
        )
        for event in events:
            episode = (event.key, event.started_at)
            if event.status is Status.FIRING and not event.reminder:
                assert episode not in self.open and episode not in self.closed, "fired twice"
                self.open[episode] = polls
            elif event.reminder:
                assert self.policy.repeat_interval > 0, "a reminder while reminders are off"
                assert episode in self.open, "a reminder outside a firing episode"
                assert polls - self.open[episode] >= min_polls, "a reminder came early"
                self.open[episode] = polls
            else:
                assert episode in self.open, "a resolve without a fire"
                del self.open[episode]
                self.closed.add(episode)

    def match(self, issues: Mapping[IssueKey, Issue]) -> None:
        """Every firing issue was announced, and every announced episode is still tracked."""
        firing = {(k, i.since) for k, i in issues.items() if i.firing}
        assert firing == set(self.open)


def check_confirming_heals(issues: Mapping[IssueKey, Issue], last: PollOutcome) -> None:
    """Healthy by-id rows for the accounts `to_confirm` names resolve SMTP and blocked issues."""
    moment = last.at + timedelta(seconds=300)
    for workspace in WORKSPACES:
        empty = PollResult(workspace, PollKind.FAILURE, moment, {})
        healthy = {i: account(i) for i in to_confirm(issues, empty)}
        healed = evaluate(issues, replace(empty, confirmed=healthy), policy(1, 1))
        left = {
            k.kind for k in healed.issues if k.workspace == workspace and k.account_id is not None
        }
        assert not left & {IssueKind.SMTP_FAILED, IssueKind.WARMUP_BLOCKED}


def replay(history: Sequence[PollOutcome], rules: Policy) -> list[list[Event]]:
    issues: dict[IssueKey, Issue] = {}
    steps = []
    for outcome in history:
        transition = evaluate(issues, outcome, rules)
        issues = transition.issues
        steps.append(transition.events)
    return steps


@SETTINGS
@given(history=histories(), rules=policies)
def test_lifecycle_invariants(history: list[PollOutcome], rules: Policy) -> None:
    """Resolves need evidence, failed polls keep account issues, replays are no-ops, ids stable."""
    issues: dict[IssueKey, Issue] = {}
    episodes = Episodes(rules, {}, set(), {})
    all_events: list[Event] = []
    previous: PollOutcome | None = None
    for step, outcome in enumerate(history):
        transition = evaluate(issues, outcome, rules)
        if outcome is previous:
            assert transition.events == [], "a replay emitted events"
            assert transition.issues == issues, "a replay changed the issues"
        check_resolves_have_evidence(outcome, transition.events, rules.reputation_low)
        check_failed_poll(issues, outcome, transition)
        check_bookkeeping(issues, outcome, transition)
        if outcome is not previous:
            episodes.see(step, outcome.workspace, transition.events)
        episodes.match(transition.issues)
        all_events += transition.events
        issues, previous = transition.issues, outcome

    check_confirming_heals(issues, history[-1])
    ids = [e.id for e in all_events]
    assert len(ids) == len(set(ids)), "two events share an id"
    assert [e for step in replay(history, rules) for e in step] == all_events


snapshots = st.dictionaries(
    st.sampled_from(ACCOUNT_IDS), st.sampled_from(ACCOUNT_IDS).flatmap(rows), max_size=3
).map(lambda found: {i: replace(row, id=i) for i, row in found.items()})


@SETTINGS
@given(previous=snapshots, current=snapshots)
def test_diff_rebuilds_the_current_snapshot(
    previous: dict[int, Account], current: dict[int, Account]
) -> None:
    """Applying a diff to the previous snapshot gives the current one; a snapshot has no diff."""
    changes = diff(previous, current)
    rebuilt = {i: a for i, a in previous.items() if i not in changes.removed}
    rebuilt.update({a.id: a for a in changes.upserted})
    assert rebuilt == current
    assert all(previous.get(a.id) != a for a in changes.upserted)
    assert not diff(current, current)
    assert not diff(current, dict(current))


@SETTINGS
@given(
    previous=snapshots,
    result=st.sampled_from(list(PollKind)).flatmap(lambda poll: poll_results("default", poll)),
)
def test_merge_keeps_what_the_poll_did_not_see(
    previous: dict[int, Account], result: PollResult
) -> None:
    """A failure poll keeps unseen accounts; any poll drops 404s and shows by-id rows."""
    merged = merge(previous, result)
    for account_id, confirmed in result.confirmed.items():
        assert merged.get(account_id) == confirmed
    if result.poll is PollKind.FAILURE:
        for account_id, row in previous.items():
            if account_id not in result.rows and account_id not in result.confirmed:
                assert merged[account_id] == row
