"""Builders for the core's inputs: account rows, poll outcomes and policies, with short names.

Every builder returns plain frozen data, so a test reads as the observation it describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from monitor.core.lifecycle import Policy, Transition, evaluate
from monitor.core.model import (
    Event,
    Issue,
    IssueKey,
    IssueKind,
    PollFailure,
    PollKind,
    PollOutcome,
    PollResult,
)
from monitor.smartlead.models import Account, WarmupDetails

WS = "default"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A moment `seconds` after T0 (negative: before it)."""
    return T0 + timedelta(seconds=seconds)


def warmup(
    status: str | None = "ACTIVE",
    reputation: float | None = 0.95,
    blocked: bool | None = None,
    reason: str | None = None,
) -> WarmupDetails:
    return WarmupDetails(
        status=status, reputation=reputation, is_blocked=blocked, blocked_reason=reason
    )


_HEALTHY_WARMUP = warmup()


def account(
    account_id: int = 1,
    *,
    smtp: bool | None = True,
    smtp_error: str | None = None,
    imap: bool | None = True,
    imap_error: str | None = None,
    warmup_details: WarmupDetails | None = _HEALTHY_WARMUP,
    email: str | None = None,
    from_name: str = "Mailbox Owner",
    esp: str = "GMAIL",
    client_id: int | None = None,
) -> Account:
    """An account row; by default a healthy one in an active warmup at 95 %."""
    return Account(
        id=account_id,
        email=email if email is not None else f"box{account_id}@example.com",
        from_name=from_name,
        esp=esp,
        client_id=client_id,
        is_smtp_success=smtp,
        smtp_failure_error=smtp_error,
        is_imap_success=imap,
        imap_failure_error=imap_error,
        daily_sent_count=10,
        message_per_day=40,
        warmup=warmup_details,
    )


def smtp_down(account_id: int = 1, error: str = "535 Authentication failed") -> Account:
    return account(account_id, smtp=False, smtp_error=error)


def _by_id(rows: Iterable[Account]) -> dict[int, Account]:
    return {row.id: row for row in rows}


def inventory(
    *rows: Account,
    seconds: float = 0.0,
    confirmed: Mapping[int, Account | None] | None = None,
    workspace: str = WS,
) -> PollResult:
    """A successful inventory poll that saw exactly `rows`."""
    return PollResult(
        workspace=workspace,
        poll=PollKind.INVENTORY,
        at=at(seconds),
        rows=_by_id(rows),
        confirmed=dict(confirmed or {}),
    )


def failure_poll(
    smtp_failing: Sequence[Account] = (),
    warmup_blocked: Sequence[Account] = (),
    *,
    seconds: float = 0.0,
    confirmed: Mapping[int, Account | None] | None = None,
    workspace: str = WS,
) -> PollResult:
    """A successful failure poll: the rows of the two failing answers (SMTP, warmup blocked)."""
    return PollResult(
        workspace=workspace,
        poll=PollKind.FAILURE,
        at=at(seconds),
        rows={**_by_id(smtp_failing), **_by_id(warmup_blocked)},
        smtp_failing=frozenset(row.id for row in smtp_failing),
        warmup_blocked=frozenset(row.id for row in warmup_blocked),
        confirmed=dict(confirmed or {}),
    )


def poll_failed(
    *,
    seconds: float = 0.0,
    auth: bool = False,
    status: int | None = 503,
    error: str = "503 Service Unavailable",
    poll: PollKind = PollKind.FAILURE,
    workspace: str = WS,
) -> PollFailure:
    return PollFailure(
        workspace=workspace, poll=poll, at=at(seconds), error=error, auth=auth, status=status
    )


def policy(
    failure: int = 1,
    success: int = 1,
    *,
    repeat: float = 0.0,
    reputation_low: float = 0.8,
    max_step: float = 600.0,
    per_kind: Mapping[IssueKind, tuple[int, int]] | None = None,
) -> Policy:
    """Account kinds at (failure, success) unless `per_kind` says; workspace kinds keep defaults."""
    thresholds = {kind: (failure, success) for kind in IssueKind if not kind.workspace_level}
    thresholds.update(per_kind or {})
    return Policy(
        thresholds=thresholds,
        repeat_interval=repeat,
        reputation_low=reputation_low,
        max_step=max_step,
    )


def key(kind: IssueKind, account_id: int | None = 1, workspace: str = WS) -> IssueKey:
    return IssueKey(workspace, None if kind.workspace_level else account_id, kind)


def run(
    outcomes: Iterable[PollOutcome],
    rules: Policy,
    issues: Mapping[IssueKey, Issue] | None = None,
) -> tuple[dict[IssueKey, Issue], list[list[Event]]]:
    """Fold outcomes through the lifecycle: the issues at the end and each step's events."""
    current = dict(issues or {})
    steps: list[list[Event]] = []
    for outcome in outcomes:
        transition: Transition = evaluate(current, outcome, rules)
        current = transition.issues
        steps.append(transition.events)
    return current, steps
