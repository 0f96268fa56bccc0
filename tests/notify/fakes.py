"""Test doubles: an in-memory outbox with the Store's delivery semantics, and fake clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from monitor.core.model import Event, Issue
from monitor.store import Cycle, OutboxMessage, WorkspaceState


class MemoryOutbox:
    """The outbox half of the Store protocol; the rest is not needed by the delivery loop."""

    def __init__(self) -> None:
        self.pending: list[OutboxMessage] = []
        self.delivered: list[OutboxMessage] = []
        self.dropped: list[OutboxMessage] = []

    def add(self, message_id: str, notifier: str, created_at: datetime, *events: Event) -> None:
        self.pending.append(OutboxMessage(message_id, notifier, created_at, tuple(events)))

    async def due_messages(self, notifier: str, now: datetime, limit: int) -> list[OutboxMessage]:
        mine = [m for m in self.pending if m.notifier == notifier]
        if not mine or (mine[0].next_attempt_at is not None and mine[0].next_attempt_at > now):
            return []
        return mine[:limit]

    async def mark_delivered(self, message_id: str) -> None:
        self.delivered.append(self._take(message_id))

    async def mark_failed(
        self, message_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        index = self._index(message_id)
        self.pending[index] = replace(
            self.pending[index],
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            last_error=error,
        )

    async def drop(self, message_id: str) -> None:
        self.dropped.append(self._take(message_id))

    async def pending_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.pending:
            counts[message.notifier] = counts.get(message.notifier, 0) + 1
        return counts

    def head(self, notifier: str) -> OutboxMessage:
        return next(m for m in self.pending if m.notifier == notifier)

    async def load(self, workspace: str) -> WorkspaceState:
        raise NotImplementedError

    async def commit(self, cycle: Cycle) -> None:
        """Only the outbox part of a cycle is kept."""
        self.pending.extend(cycle.outbox)

    async def issues(self) -> list[Issue]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    def _index(self, message_id: str) -> int:
        return next(i for i, m in enumerate(self.pending) if m.id == message_id)

    def _take(self, message_id: str) -> OutboxMessage:
        return self.pending.pop(self._index(message_id))


class FakeTime:
    """A monotonic clock (for the Slack pacer) that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class WallClock:
    """A settable UTC wall clock for notifiers and the outbox."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
