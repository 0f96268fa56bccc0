"""The state store: last snapshot, issues, poll status and the notification outbox.

Everything above this package talks to the `Store` protocol only. SQLite is the first
implementation; a shared PostgreSQL for several replicas is planned, so nothing outside
`monitor/store/` may assume SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from monitor.core.model import Event, Issue, IssueKey, PollKind
from monitor.smartlead.models import Account


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One notification for one notifier: a group of events from one cycle.

    `id` is stable (derived from the notifier and the event ids), so it is the same on every
    retry and a replayed cycle cannot enqueue it twice.
    """

    id: str
    notifier: str
    created_at: datetime
    events: tuple[Event, ...]
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class PollStatus:
    workspace: str
    poll: PollKind
    at: datetime
    ok: bool
    duration: float
    error: str | None = None
    last_success_at: datetime | None = None
    accounts: int | None = None


@dataclass(frozen=True, slots=True)
class Cycle:
    """Everything one poll of one workspace changes, committed in one transaction."""

    workspace: str
    poll_status: PollStatus
    accounts_upserted: Sequence[Account] = ()
    accounts_removed: Sequence[int] = ()
    issues_upserted: Sequence[Issue] = ()
    issues_removed: Sequence[IssueKey] = ()
    outbox: Sequence[OutboxMessage] = ()


@dataclass(slots=True)
class WorkspaceState:
    accounts: dict[int, Account] = field(default_factory=dict)
    issues: dict[IssueKey, Issue] = field(default_factory=dict)
    polls: dict[PollKind, PollStatus] = field(default_factory=dict)


class StoreError(Exception):
    """The state store cannot be opened or written; the message says why and where."""


class Store(Protocol):
    async def load(self, workspace: str) -> WorkspaceState: ...

    async def commit(self, cycle: Cycle) -> None: ...

    async def issues(self) -> list[Issue]:
        """Every tracked issue (pending and firing) of every workspace."""
        ...

    async def due_messages(self, notifier: str, now: datetime, limit: int) -> list[OutboxMessage]:
        """Oldest pending messages of one notifier, in order; empty while the head waits."""
        ...

    async def mark_delivered(self, message_id: str) -> None: ...

    async def mark_failed(
        self, message_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None: ...

    async def drop(self, message_id: str) -> None: ...

    async def pending_counts(self) -> dict[str, int]: ...

    async def close(self) -> None: ...
