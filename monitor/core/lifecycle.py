"""The issue lifecycle: (issues, poll outcome, policy) -> (issues after, events).

Flap protection counts consecutive observations; recovery needs positive evidence (a row
that says healthy, or a 404 by id); a failed poll only ever speaks about the workspace.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from msgspec import structs

from monitor.core.health import Source, Verdict, quiet, verdicts
from monitor.core.model import (
    AccountRef,
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
    event_id,
)
from monitor.smartlead.models import Account

# Workspace-level kinds fire on their own streaks, whatever the account thresholds are.
WORKSPACE_DEFAULTS = {IssueKind.API_AUTH_FAILED: (1, 1), IssueKind.API_UNAVAILABLE: (3, 1)}


@dataclass(frozen=True, slots=True)
class Policy:
    thresholds: Mapping[IssueKind, tuple[int, int]]  # kind -> (failure, success) streaks
    repeat_interval: float  # seconds of firing between reminders; 0 = none
    reputation_low: float  # ratio: 0.8 for 80 %
    max_step: float  # the longest gap between two checks that counts as firing time

    def threshold(self, kind: IssueKind) -> tuple[int, int]:
        return self.thresholds.get(kind) or WORKSPACE_DEFAULTS.get(kind, (1, 1))


@dataclass(frozen=True, slots=True)
class Transition:
    issues: dict[IssueKey, Issue]  # every tracked issue of the workspace afterwards
    upserted: list[Issue]
    removed: list[IssueKey]
    events: list[Event]


# Firing time is a sum of float steps; a reminder due at 600 s must not slip a poll at 599.999.
_SLACK = 1e-6

_REMOVED = None  # an observation that the account no longer exists
Observation = Verdict | None


def to_confirm(issues: Mapping[IssueKey, Issue], result: PollResult) -> set[int]:
    """Accounts with a tracked issue that this poll did not show failing: ask for them by id.

    An account that drops out of a failing list may be healthy, or the list may have
    drifted; only its own row can tell.
    """
    wanted: set[int] = set()
    for key in issues:
        account_id = key.account_id
        if account_id is None or key.workspace != result.workspace:
            continue
        if result.poll is PollKind.INVENTORY:
            missing = account_id not in result.rows
        elif key.kind is IssueKind.SMTP_FAILED:
            missing = account_id not in result.smtp_failing
        elif key.kind is IssueKind.WARMUP_BLOCKED:
            missing = account_id not in result.warmup_blocked
        else:  # the failure poll does not query IMAP or reputation
            missing = False
        if missing:
            wanted.add(account_id)
    return wanted


def observe(
    result: PollResult,
    reputation_low: float,
    tracked: Collection[IssueKey],
    stale: frozenset[int] = frozenset(),
) -> dict[IssueKey, Observation]:
    """Every observation of a successful poll that can change an issue, keyed by issue.

    Rows of `stale` accounts are older than a change already committed by a poll that
    finished first (a long inventory overtaken by a failure poll): they say nothing.
    An observation that is not a failure changes only an issue that exists: for any key not
    `tracked` it is left out, so the dict stays the size of the fleet's trouble, not of the
    fleet (4 verdicts a row). A quiet inventory row of an account without issues is skipped
    before its verdicts are even made.
    """
    ws = result.workspace
    found: dict[IssueKey, Observation] = {
        IssueKey(ws, None, kind): Verdict(False, {}) for kind in WORKSPACE_DEFAULTS
    }
    accounts = frozenset(key.account_id for key in tracked)
    inventory = frozenset({Source.INVENTORY})
    for account_id, account in result.rows.items():
        if account_id in stale:
            continue
        if result.poll is PollKind.INVENTORY:
            if account_id not in accounts and quiet(account, reputation_low):
                continue
            sources = inventory
        else:
            sources = frozenset(
                source
                for source, ids in (
                    (Source.SMTP_FAILING, result.smtp_failing),
                    (Source.WARMUP_BLOCKED, result.warmup_blocked),
                )
                if account_id in ids
            )
        _add_row(found, tracked, ws, account, sources, reputation_low)
    by_id = frozenset({Source.BY_ID})
    for account_id, confirmed in result.confirmed.items():
        if account_id in stale:
            continue
        if confirmed is None:
            for kind in IssueKind:
                if not kind.workspace_level:
                    _add(found, tracked, IssueKey(ws, account_id, kind), _REMOVED)
        else:
            _add_row(found, tracked, ws, confirmed, by_id, reputation_low)
    return found


def _add_row(
    found: dict[IssueKey, Observation],
    tracked: Collection[IssueKey],
    ws: str,
    account: Account,
    sources: frozenset[Source],
    reputation_low: float,
) -> None:
    for kind, verdict in verdicts(account, sources, reputation_low).items():
        _add(found, tracked, IssueKey(ws, account.id, kind), verdict)


def _add(
    found: dict[IssueKey, Observation],
    tracked: Collection[IssueKey],
    key: IssueKey,
    observation: Observation,
) -> None:
    """Record an observation; a later one (a by-id row) outranks an earlier one of the key."""
    if key in tracked or (observation is not None and observation.failing):
        found[key] = observation
    else:  # health or removal with no issue to apply it to: as if unobserved
        found.pop(key, None)


def observe_failure(failure: PollFailure) -> dict[IssueKey, Observation]:
    """A failed poll says nothing about accounts: only the workspace is failing."""
    ws = failure.workspace
    if failure.auth:
        key = IssueKey(ws, None, IssueKind.API_AUTH_FAILED)
        detail: dict[str, Any] = {"status": failure.status or 401, "message": failure.error}
    else:
        key = IssueKey(ws, None, IssueKind.API_UNAVAILABLE)
        detail = {"error": failure.error, "status": failure.status}
    return {key: Verdict(True, detail)}


def evaluate(
    issues: Mapping[IssueKey, Issue],
    outcome: PollOutcome,
    policy: Policy,
    accounts: Mapping[int, Account] | None = None,
    stale: frozenset[int] = frozenset(),
) -> Transition:
    """Apply one poll of one workspace. `accounts` names the mailboxes in new issues."""
    now, ws = outcome.at, outcome.workspace
    if isinstance(outcome, PollResult):
        tracked = frozenset(k for k in issues if k.account_id is not None and k.workspace == ws)
        observations = observe(outcome, policy.reputation_low, tracked, stale)
        confirmed: Mapping[int, Account | None] = outcome.confirmed
        seen: Mapping[int, Account] = outcome.rows
    else:
        observations = observe_failure(outcome)
        confirmed, seen = {}, {}
    known = accounts or {}
    after = dict(issues)
    upserted: dict[IssueKey, Issue] = {}
    removed: list[IssueKey] = []
    events: list[Event] = []

    for key, observation in observations.items():
        issue = issues.get(key)
        if issue is not None and issue.observed_at == now:
            continue  # this very observation was applied already: a replay changes nothing
        account_id = key.account_id
        account = None  # the freshest row of the account, looked up without copying the fleet
        if account_id is not None:
            account = confirmed.get(account_id) or seen.get(account_id) or known.get(account_id)
        new, event = _step(issue, key, observation, account, now, policy)
        if event is not None:
            events.append(event)
        if new is None:
            if issue is not None:
                del after[key]
                removed.append(key)
        else:
            after[key] = new
            upserted[key] = new

    for key, issue in list(after.items()):
        before = issues.get(key)
        if key.workspace != outcome.workspace or not issue.firing or before is None:
            continue
        if not before.firing or before.observed_at == now:
            continue  # fired by this very poll, or a replay
        ticked, event = _tick(issue, before.observed_at, now, policy)
        after[key] = upserted[key] = ticked
        if event is not None:
            events.append(event)
    return Transition(after, list(upserted.values()), removed, events)


def _step(
    issue: Issue | None,
    key: IssueKey,
    observation: Observation,
    account: Account | None,
    now: datetime,
    policy: Policy,
) -> tuple[Issue | None, Event | None]:
    """One observation of one issue: the issue afterwards (None: not tracked) and any event."""
    fail_after, heal_after = policy.threshold(key.kind)
    if observation is _REMOVED:
        if issue is None or not issue.firing:
            return None, None
        return None, _resolved(issue, now, ResolveReason.ACCOUNT_REMOVED)
    if observation.failing:
        ref = AccountRef.of(account) if account is not None else issue.account if issue else None
        if issue is None:
            issue = Issue(key=key, account=ref, since=now, detail={}, observed_at=now)
        issue = structs.replace(
            issue,
            account=ref,
            detail=dict(observation.detail),
            observed_at=now,
            failing_streak=issue.failing_streak + 1,
            healthy_streak=0,
        )
        if not issue.firing and issue.failing_streak >= fail_after:
            issue = structs.replace(issue, firing=True)
            return issue, firing_event(issue)
        return issue, None
    if issue is None:
        return None, None
    if not issue.firing:
        return None, None  # a pending issue that sees health was a blip
    issue = structs.replace(
        issue, observed_at=now, healthy_streak=issue.healthy_streak + 1, failing_streak=0
    )
    if issue.healthy_streak >= heal_after:
        return None, _resolved(issue, now, ResolveReason.RECOVERED)
    return issue, None


def _tick(
    issue: Issue, checked_at: datetime, now: datetime, policy: Policy
) -> tuple[Issue, Event | None]:
    """Count firing time since the last check and emit a reminder when due.

    The step is clamped to [0, max_step], so a wall clock that jumps back or ahead neither
    stops reminders nor fires them early.
    """
    step = min(max((now - checked_at).total_seconds(), 0.0), policy.max_step)
    firing_for = issue.firing_for + step
    issue = structs.replace(issue, firing_for=firing_for, observed_at=now)
    due = firing_for - issue.reminded_for >= policy.repeat_interval - _SLACK
    if policy.repeat_interval <= 0 or not due:
        return issue, None
    issue = structs.replace(issue, reminded_for=firing_for, reminders=issue.reminders + 1)
    return issue, _event(issue, Status.FIRING, reminder=issue.reminders)


def firing_event(issue: Issue) -> Event:
    """The fire event of an issue; also how Alertmanager is re-sent an open one each cycle."""
    return _event(issue, Status.FIRING)


def _resolved(issue: Issue, now: datetime, reason: ResolveReason) -> Event:
    return _event(issue, Status.RESOLVED, resolved_at=now, reason=reason)


def _event(
    issue: Issue,
    status: Status,
    *,
    reminder: int = 0,
    resolved_at: datetime | None = None,
    reason: ResolveReason | None = None,
) -> Event:
    return Event(
        id=event_id(issue.key, issue.since, status, reminder),
        key=issue.key,
        status=status,
        account=issue.account,
        detail=issue.detail,
        started_at=issue.since,
        resolved_at=resolved_at,
        reminder=reminder > 0,
        reason=reason,
    )
