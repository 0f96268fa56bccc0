"""The durable delivery loop: outbox messages leave the store in order, one notifier at a time.

Each notifier has its own loop, so a receiver that is down (or refuses everything) delays only
its own messages. A failed head waits for its next attempt and holds back the messages behind
it; a message older than `max_age` is dropped with an error log; a message the receiver
refuses outright (`permanent`) is dropped at once so it cannot block the queue for a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from monitor.notify import DeliveryResult, Notifier
from monitor.store import OutboxMessage, Store

log = structlog.get_logger(__name__)

MAX_AGE = timedelta(hours=24)
INITIAL_BACKOFF = 1.0  # seconds before the first retry
MAX_BACKOFF = 300.0  # retries never wait longer than this, unless the receiver asks
IDLE_POLL = 1.0  # seconds between looks at the store when nothing woke the loop
BATCH = 20  # messages fetched per store query
STOP_GRACE = 5.0  # seconds an in-flight send may take to finish on stop


class Result(StrEnum):
    """The `result` label of smartlead_notifications_total."""

    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


def backoff(attempts: int, *, initial: float, maximum: float, jitter: float) -> float:
    """Seconds before retry number `attempts` (1 = first): doubling, capped, shaved by jitter.

    `jitter` in [0, 1) takes up to a quarter off, so notifiers that failed together spread out
    without ever waiting longer than `maximum`.
    """
    base = min(maximum, initial * 2.0 ** min(max(attempts - 1, 0), 32))
    return base * (1 - 0.25 * jitter)


def next_attempt(
    now: datetime,
    attempts: int,
    result: DeliveryResult,
    *,
    initial: float,
    maximum: float,
    jitter: float,
) -> datetime:
    """The backoff, or the receiver's `Retry-After` when it asks for longer."""
    delay = backoff(attempts, initial=initial, maximum=maximum, jitter=jitter)
    if result.retry_after is not None:
        delay = max(delay, result.retry_after)
    return now + timedelta(seconds=delay)


class OutboxDelivery:
    """Delivers outbox messages for a fixed set of notifiers; `run()` for the daemon,
    `deliver_due()` for `once` and tests."""

    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_age: timedelta = MAX_AGE,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        jitter: Callable[[], float] = random.random,
        idle_poll: float = IDLE_POLL,
        batch: int = BATCH,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store = store
        self._notifiers = list(notifiers)
        self._clock = clock
        self._sleep = sleep
        self._max_age = max_age
        self._initial = initial_backoff
        self._maximum = max_backoff
        self._jitter = jitter
        self._idle_poll = idle_poll
        self._batch = batch
        self._on_result = on_result
        self._locks = {n.name: asyncio.Lock() for n in self._notifiers}
        self._wakeups = {n.name: asyncio.Event() for n in self._notifiers}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def deliver_due(self, now: datetime | None = None) -> int:
        """One pass over every notifier, concurrently: send what is due. Returns how many sent.

        With `now` given, that instant is used throughout the pass (the test seam).
        """
        counts = await asyncio.gather(*(self._drain(n, now) for n in self._notifiers))
        return sum(counts)

    def wake(self) -> None:
        """New messages were committed: every loop looks at the store now."""
        for event in self._wakeups.values():
            event.set()

    async def run(self) -> None:
        """One loop per notifier until `stop()`."""
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._loop(n), name=f"outbox:{n.name}") for n in self._notifiers
        ]
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let in-flight sends finish for up to `grace` seconds, then abandon them.

        An abandoned message stays pending and goes out again, with the same id, next time.
        """
        self._stopping = True
        self.wake()
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []

    async def _loop(self, notifier: Notifier) -> None:
        wakeup = self._wakeups[notifier.name]
        while not self._stopping:
            wakeup.clear()
            try:
                await self._drain(notifier, None, loop=True)
            except Exception as exc:  # the store failed: keep the loop, try again later
                log.error(
                    "outbox delivery pass failed",
                    notifier=notifier.name,
                    error=f"{type(exc).__name__}: {exc}",
                )
            if self._stopping:
                return
            await self._idle(wakeup)

    async def _idle(self, wakeup: asyncio.Event) -> None:
        """Wait for a wake-up or the idle poll, whichever comes first."""
        woken = asyncio.ensure_future(wakeup.wait())
        slept = asyncio.ensure_future(self._sleep(self._idle_poll))
        try:
            await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (woken, slept):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def _drain(self, notifier: Notifier, pinned: datetime | None, loop: bool = False) -> int:
        """Send this notifier's due messages in order until one fails or none is due.

        The daemon's loop (`loop`) also stops between messages once `stop()` was called.
        """
        sent = 0
        async with self._locks[notifier.name]:
            while True:
                due = await self._store.due_messages(
                    notifier.name, pinned or self._clock(), self._batch
                )
                if not due:
                    return sent
                for message in due:
                    if loop and self._stopping:
                        return sent
                    result = await self._deliver(notifier, message, pinned or self._clock())
                    if result is Result.FAILED:
                        return sent
                    if result is Result.SENT:
                        sent += 1

    async def _deliver(self, notifier: Notifier, message: OutboxMessage, now: datetime) -> Result:
        age = now - message.created_at
        if age > self._max_age:
            log.error(
                "notification dropped: undeliverable for too long",
                notifier=notifier.name,
                message_id=message.id,
                events=len(message.events),
                attempts=message.attempts,
                age_hours=round(age.total_seconds() / 3600, 1),
                last_error=message.last_error,
            )
            await self._store.drop(message.id)
            return self._count(notifier, Result.DROPPED)
        try:
            result = await notifier.send(message.id, message.events)
        except Exception as exc:  # a notifier bug must not stop the loop; retry like a failure
            log.error(
                "notifier raised instead of answering",
                notifier=notifier.name,
                message_id=message.id,
                error=type(exc).__name__,
            )
            result = DeliveryResult(ok=False, error=f"{type(exc).__name__} in notifier")
        if result.ok:
            await self._store.mark_delivered(message.id)
            return self._count(notifier, Result.SENT)
        if result.permanent:
            log.error(
                "notification dropped: the receiver refused it",
                notifier=notifier.name,
                message_id=message.id,
                events=len(message.events),
                error=result.error,
            )
            self._count(notifier, Result.FAILED)
            await self._store.drop(message.id)
            return self._count(notifier, Result.DROPPED)
        attempts = message.attempts + 1
        retry_at = next_attempt(
            now,
            attempts,
            result,
            initial=self._initial,
            maximum=self._maximum,
            jitter=self._jitter(),
        )
        log.warning(
            "notification failed; will retry",
            notifier=notifier.name,
            message_id=message.id,
            attempts=attempts,
            retry_in=round((retry_at - now).total_seconds(), 1),
            error=result.error,
        )
        await self._store.mark_failed(message.id, attempts, retry_at, result.error or "failed")
        return self._count(notifier, Result.FAILED)

    def _count(self, notifier: Notifier, result: Result) -> Result:
        if self._on_result is not None:
            self._on_result(notifier.name, str(result))
        return result
