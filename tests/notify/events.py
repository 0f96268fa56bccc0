"""Events for notifier tests: a fixed instant and a mixed group covering every kind and state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.model import (
    AccountRef,
    Event,
    IssueKey,
    IssueKind,
    ResolveReason,
    Status,
    event_id,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
EVIL = "<!channel> <https://evil.example|x> & co"

JOHN = AccountRef(123, "john@example.com", "John Doe", "GMAIL", None)
EVE = AccountRef(456, "eve@client.example", "Eve <Ops> & Co", "OUTLOOK", 7)
SAM = AccountRef(789, "sam@client.example", "", "SMTP", 7)


def make_event(
    kind: IssueKind,
    account: AccountRef | None,
    *,
    workspace: str = "default",
    status: Status = Status.FIRING,
    detail: dict[str, Any] | None = None,
    since: datetime = NOW - timedelta(minutes=5),
    resolved_at: datetime | None = None,
    reminder: int = 0,
    reason: ResolveReason | None = None,
) -> Event:
    key = IssueKey(workspace, account.id if account else None, kind)
    if status is Status.RESOLVED:
        resolved_at = resolved_at or NOW
        reason = reason or ResolveReason.RECOVERED
    return Event(
        id=event_id(key, since, status, reminder),
        key=key,
        status=status,
        account=account,
        detail=detail if detail is not None else {"error": "535 Authentication failed"},
        started_at=since,
        resolved_at=resolved_at,
        reminder=reminder > 0,
        reason=reason,
    )


def mixed_events() -> list[Event]:
    """Firing, reminder and resolved events of every kind, one carrying a hostile error text."""
    return [
        make_event(IssueKind.SMTP_FAILED, JOHN),
        make_event(IssueKind.IMAP_FAILED, EVE, detail={"error": EVIL}),
        make_event(
            IssueKind.WARMUP_BLOCKED,
            SAM,
            detail={"blocked_reason": "Too many bounces"},
            since=NOW - timedelta(hours=4, minutes=10),
            reminder=1,
        ),
        make_event(
            IssueKind.REPUTATION_LOW,
            JOHN,
            detail={"reputation": 0.72, "threshold": 0.8},
            since=NOW - timedelta(minutes=30),
        ),
        make_event(
            IssueKind.SMTP_FAILED,
            EVE,
            status=Status.RESOLVED,
            since=NOW - timedelta(hours=1, minutes=5),
        ),
        make_event(
            IssueKind.WARMUP_BLOCKED,
            SAM,
            status=Status.RESOLVED,
            detail={"blocked_reason": None},
            since=NOW - timedelta(days=2, hours=3),
            reason=ResolveReason.ACCOUNT_REMOVED,
        ),
        make_event(
            IssueKind.API_AUTH_FAILED,
            None,
            detail={"status": 401, "message": "Invalid API key"},
            since=NOW - timedelta(minutes=1),
        ),
        make_event(
            IssueKind.API_UNAVAILABLE,
            None,
            status=Status.RESOLVED,
            detail={"error": "HTTP 503 from https://server.smartlead.ai", "status": 503},
            since=NOW - timedelta(minutes=20),
        ),
    ]
