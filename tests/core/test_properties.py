"""Invariants of the lifecycle over random sequences of polls (hypothesis).

A small fleet of two workspaces and three accounts sees random inventory rows, failing
lists, by-id confirmations and 404s, failed polls (401 or not), replays of the last outcome,
and a wall clock that mostly moves forward but sometimes jumps back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import structs

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
from monitor.smartlead.models import Account

from .factories import T0, account, policy, warmup

WORKSPACES = ("default", "other")
ACCOUNT_IDS = (1, 2, 3)
MAX_STEP = 600.0
# Gaps between polls in seconds: mostly a poll interval, sometimes long, sometimes backward.
GAPS = (60, 300, 300, 300, 300, 900, 7200, 0, -300, -3600, -86400)

# Firing time is a float sum; the core subtracts sums where this oracle restarts from zero.
SLACK = 1e-6
SETTINGS = settings(max_examples=200, deadline=None)

# Every shape of warmup details the verdicts distinguish; healthy first, so examples shrink to it.
WARMUPS = [
    warmup(),
    None,
    warmup(reputation=None),
    warmup(reputation=0.8),
    warmup(reputation=0.5),
    warmup(status="PAUSED", reputation=0.5),
    warmup(status=None, reputation=0.5),
    warmup(blocked=True, reason="spam traps"),
    warmup(blocked=True),
    warmup(blocked=False, reason="spam traps"),
    warmup(blocked=False),
    warmup(reason="spam traps"),
]
HEALTH = (True, False, None)


def variants(account_id: int) -> list[Account]:
    """Every combination of SMTP, IMAP and warmup shapes for one account, healthy first."""
    return [
        account(
            account_id,
            smtp=smtp,
            smtp_error=None if smtp else "535 Authentication failed",
            imap=imap,
            imap_error=None if imap else "IMAP login refused",
            warmup_details=details,
        )
        for smtp in HEALTH
        for imap in HEALTH
        for details in WARMUPS
    ]


# Drawing a prepared row is one choice, which keeps generation cheap.
ROWS = {i: st.sampled_from(variants(i)) for i in ACCOUNT_IDS}


ANSWERS = st.sampled_from(["not asked", "not asked", "404", "healthy", "any row"])


@st.composite
def confirmations(draw: st.DrawFn) -> dict[int, Account | None]:
    """By-id answers for some accounts: a row (often healthy), or None for a 404."""
    found: dict[int, Account | None] = {}
    for i in ACCOUNT_IDS:
        answer = draw(ANSWERS)
        if answer == "404":
            found[i] = None
        elif answer == "healthy":
            found[i] = account(i)
        elif answer == "any row":
            found[i] = draw(ROWS[i])
    return found


@st.composite
def poll_results(draw: st.DrawFn, workspace: str, poll: PollKind) -> PollResult:
    if poll is PollKind.INVENTORY:
        listed = {i: draw(ROWS[i]) for i in ACCOUNT_IDS if draw(st.booleans())}
        smtp: frozenset[int] = frozenset()
        blocked: frozenset[int] = frozenset()
    else:
        smtp = frozenset(i for i in ACCOUNT_IDS if draw(st.booleans()))
        blocked = frozenset(i for i in ACCOUNT_IDS if draw(st.booleans()))
        listed = {i: draw(ROWS[i]) for i in sorted(smtp | blocked)}
    confirmed = draw(confirmations())
    return PollResult(workspace, poll, T0, listed, smtp, blocked, confirmed)


def poll_failures(workspace: str) -> st.SearchStrategy[PollFailure]:
    return st.builds(
        lambda poll, status: PollFailure(
            workspace, poll, T0, f"HTTP {status}", auth=status == 401, status=status
        ),
        st.sampled_from(list(PollKind)),
        st.sampled_from([401, 500, 503, None]),
    )


REPLAY = "replay"
Draft = PollOutcome | str  # an outcome whose time is set later, or REPLAY of the previous one


@st.composite
def drafts(draw: st.DrawFn, replays: bool = True) -> list[Draft]:
    """One poll, a replay of the last one, or an outage (three failed polls in a row)."""
    workspace = draw(st.sampled_from(["default", "default", "default", "other"]))
    choices = [
        "inventory",
        "failure",
        "failure",
        "failed",
        "outage",
        *([REPLAY] if replays else []),
    ]
    choice = draw(st.sampled_from(choices))
    if choice == REPLAY:
        return [REPLAY]
    if choice == "failed":
        return [draw(poll_failures(workspace))]
    if choice == "outage":
        return [draw(poll_failures(workspace)) for _ in range(3)]
    return [draw(poll_results(workspace, PollKind(choice)))]


@st.composite
def histories(draw: st.DrawFn) -> list[PollOutcome]:
    """A sequence of outcomes with distinct times (replays reuse the very same outcome)."""
    first = draw(drafts(replays=False))
    drafted = [*first, *(d for ds in draw(st.lists(drafts(), max_size=15)) for d in ds)]
    clock = 0.0
    history: list[PollOutcome] = []
    for index, draft in enumerate(drafted):
        if isinstance(draft, str):
            history.append(history[-1])
            continue
        clock += draw(st.sampled_from(GAPS))
        # A microsecond per step keeps every poll's time distinct, even after a jump back.
        moment = T0 + timedelta(seconds=clock, microseconds=index)
        history.append(replace(draft, at=moment))
    return history


policies = st.builds(
    lambda failure, success, repeat: policy(failure, success, repeat=repeat, max_step=MAX_STEP),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([0.0, 300.0, 600.0, 1800.0]),
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
    """What a failed poll must not touch (firing time and reminders may move on)."""
    return (issue.firing, issue.failing_streak, issue.healthy_streak, issue.since, issue.detail)


def check_resolves_have_evidence(
    outcome: PollOutcome, events: Sequence[Event], line: float
) -> None:
    """Recovered needs a healthy row in this very outcome; account_removed needs its 404."""
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
    """A failed poll speaks only about the workspace: account issues keep their state."""
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


Episode = tuple[IssueKey, datetime]


@dataclass
class Episodes:
    """What the events told so far, and a wall-clock account of each episode's firing time.

    Firing time is counted here from the polls' own times: each poll of a workspace adds the
    gap since its previous poll, clamped to [0, max_step], to every episode open there.
    """

    policy: Policy
    open: dict[Episode, float] = field(default_factory=dict)  # firing time since last told
    closed: set[Episode] = field(default_factory=set)
    last_poll: dict[str, datetime] = field(default_factory=dict)

    def see(self, outcome: PollOutcome, events: Sequence[Event]) -> None:
        workspace, repeat = outcome.workspace, self.policy.repeat_interval
        previous = self.last_poll.get(workspace, outcome.at)
        step = min(max((outcome.at - previous).total_seconds(), 0.0), self.policy.max_step)
        self.last_poll[workspace] = outcome.at
        for episode in self.open:
            if episode[0].workspace == workspace:
                self.open[episode] += step
        told: set[Episode] = set()
        for event in events:
            episode = (event.key, event.started_at)
            told.add(episode)
            if event.status is Status.FIRING and not event.reminder:
                assert episode not in self.open and episode not in self.closed, "fired twice"
                self.open[episode] = 0.0
            elif event.reminder:
                assert repeat > 0, "a reminder while reminders are off"
                assert episode in self.open, "a reminder outside a firing episode"
                assert self.open[episode] >= repeat - SLACK, "a reminder came early"
                self.open[episode] = 0.0
            else:
                assert episode in self.open, "a resolve without a fire"
                del self.open[episode]
                self.closed.add(episode)
        for episode, firing_for in self.open.items():
            if episode not in told and repeat > 0:
                assert firing_for < repeat + SLACK, "a reminder is overdue"

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
    """The events of each step when the history is applied again from nothing."""
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
    episodes = Episodes(rules)
    all_events: list[Event] = []
    previous: PollOutcome | None = None
    for outcome in history:
        transition = evaluate(issues, outcome, rules)
        if outcome is previous:
            assert transition.events == [], "a replay emitted events"
            assert transition.issues == issues, "a replay changed the issues"
        check_resolves_have_evidence(outcome, transition.events, rules.reputation_low)
        check_failed_poll(issues, outcome, transition)
        check_bookkeeping(issues, outcome, transition)
        if outcome is not previous:
            episodes.see(outcome, transition.events)
        episodes.match(transition.issues)
        all_events += transition.events
        issues, previous = transition.issues, outcome

    for told in all_events:  # what the run covered, for --hypothesis-show-statistics
        hypothesis.event(
            f"{told.kind} {'reminder' if told.reminder else told.status} {told.reason or ''}"
        )
    check_confirming_heals(issues, history[-1])
    ids = [e.id for e in all_events]
    assert len(ids) == len(set(ids)), "two events share an id"
    assert [e for step in replay(history, rules) for e in step] == all_events


snapshots = st.dictionaries(
    st.sampled_from(ACCOUNT_IDS), st.sampled_from(ACCOUNT_IDS).flatmap(ROWS.__getitem__), max_size=3
).map(lambda found: {i: structs.replace(row, id=i) for i, row in found.items()})


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
