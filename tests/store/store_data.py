"""Data of every shape for the state-store tests (times are tz-aware UTC)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.model import (
    AccountRef,
    Event,
    Issue,
    IssueKey,
    IssueKind,
    PollKind,
    ResolveReason,
    Status,
    event_id,
)
from monitor.smartlead.models import Account, WarmupDetails
from monitor.store import Cycle, OutboxMessage, PollStatus
from monitor.store.sqlite import SQLiteStore

T0 = datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC)

OpenStore = Callable[..., Awaitable[SQLiteStore]]


def account(account_id: int, **changes: Any) -> Account:
    fields: dict[str, Any] = {
        "id": account_id,
        "email": f"sender{account_id}@client.example",
        "from_name": f"Sender {account_id}",
        "esp": "GMAIL",
        "client_id": 7,
        "is_smtp_success": True,
        "smtp_failure_error": None,
        "is_imap_success": True,
        "imap_failure_error": None,
        "daily_sent_count": 12,
        "message_per_day": 40,
        "warmup": WarmupDetails("ACTIVE", 0.95, False, None),
    }
    fields.update(changes)
    return Account(**fields)


def issue(
    account_id: int | None = 1,
    kind: IssueKind = IssueKind.SMTP_FAILED,
    workspace: str = "default",
    **changes: Any,
) -> Issue:
    ref = None if account_id is None else AccountRef.of(account(account_id))
    fields: dict[str, Any] = {
        "key": IssueKey(workspace, account_id, kind),
        "account": ref,
        "since": T0,
        "detail": {"error": "535 Authentication failed"},
        "observed_at": T0 + timedelta(minutes=5),
        "firing": True,
        "failing_streak": 2,
        "healthy_streak": 0,
        "firing_for": 300.5,
        "reminded_for": 0.0,
        "reminders": 0,
    }
    fields.update(changes)
    return Issue(**fields)


def event(
    account_id: int | None = 1,
    kind: IssueKind = IssueKind.SMTP_FAILED,
    status: Status = Status.FIRING,
    workspace: str = "default",
) -> Event:
    """An event as the payload carries it: times in whole seconds."""
    key = IssueKey(workspace, account_id, kind)
    started = T0.replace(microsecond=0)
    resolved = status is Status.RESOLVED
    return Event(
        id=event_id(key, started, status),
        key=key,
        status=status,
        account=None if account_id is None else AccountRef.of(account(account_id)),
        detail={"error": "535 <!channel> & co", "codes": [535, 5.7]},
        started_at=started,
        resolved_at=started + timedelta(hours=1) if resolved else None,
        reason=ResolveReason.RECOVERED if resolved else None,
    )


def message(message_id: str, notifier: str = "slack", *events: Event) -> OutboxMessage:
    return OutboxMessage(
        id=message_id,
        notifier=notifier,
        created_at=T0,
        events=events or (event(),),
    )


def poll_status(
    workspace: str = "default", poll: PollKind = PollKind.FAILURE, **changes: Any
) -> PollStatus:
    fields: dict[str, Any] = {
        "workspace": workspace,
        "poll": poll,
        "at": T0,
        "ok": True,
        "duration": 1.25,
        "error": None,
        "last_success_at": T0,
        "accounts": 3,
    }
    fields.update(changes)
    return PollStatus(**fields)


def cycle(workspace: str = "default", **changes: Any) -> Cycle:
    changes.setdefault("poll_status", poll_status(workspace))
    return Cycle(workspace=workspace, **changes)
