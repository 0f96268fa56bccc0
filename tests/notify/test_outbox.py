"""The delivery loop: in order per notifier, retries with backoff, Retry-After, drops, wake-ups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import aiohttp
import pytest
from structlog.testing import capture_logs

from monitor.core.model import AccountRef, Event, IssueKind, PollKind
from monitor.notify import DeliveryResult, Notifier
from monitor.notify.outbox import OutboxDelivery, backoff, next_attempt
from monitor.notify.slack import SlackNotifier, SlackPacer
from monitor.notify.webhook import WebhookNotifier
from monitor.store import Cycle, OutboxMessage, PollStatus, Store

from .events import NOW, make_event
from .fakes import FakeTime, MemoryOutbox, WallClock
from .sink import MakeSink, Reply


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Store]:
    """The delivery loop against the in-memory fake and, once it exists, the SQLite store."""
    if request.param == "memory":
        yield MemoryOutbox()
        return
    sqlite = pytest.importorskip("monitor.store.sqlite")
    opened = await sqlite.SQLiteStore.open(f"{tmp_path}/state.db")
    try:
        yield opened
    finally:
        await opened.close()


def events(first: int, count: int = 2) -> tuple[Event, ...]:
    """`count` firing events on distinct mailboxes, numbered from `first`."""
    return tuple(
        make_event(IssueKind.SMTP_FAILED, AccountRef(i, f"m{i}@x.example", "", "GMAIL", None))
        for i in range(first, first + count)
    )


async def enqueue(
    store: Store, message_id: str, notifier: str, *grouped: Event, at: datetime = NOW
) -> None:
    """Commit one outbox message the way a cycle does, created `at`."""
    status = PollStatus("default", PollKind.FAILURE, at, True, 0.0)
    message = OutboxMessage(message_id, notifier, at, grouped)
    await store.commit(Cycle("default", status, outbox=[message]))


class Recorder:
    """Collects on_result calls, as smartlead_notifications_total would count them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, notifier: str, result: str) -> None:
        self.calls.append((notifier, result))


def delivery(
    store: Store, notifiers: Sequence[Notifier], clock: WallClock, results: Recorder
) -> OutboxDelivery:
    return OutboxDelivery(
        store,
        notifiers,
        clock=clock,
        jitter=lambda: 0.0,
        on_result=results,
    )


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0), (10, 300.0), (500, 300.0)],
)
def test_backoff_doubles_then_caps(attempts: int, seconds: float) -> None:
    """Exponential from 1 s, never past 5 min, even after hundreds of attempts."""
    assert backoff(attempts, initial=1.0, maximum=300.0, jitter=0.0) == seconds


def test_jitter_only_shortens() -> None:
    """Jitter spreads retries by up to a quarter, never beyond the cap."""
    assert backoff(20, initial=1.0, maximum=300.0, jitter=0.999) == pytest.approx(225.075)
    assert backoff(1, initial=1.0, maximum=300.0, jitter=0.5) == 0.875


@pytest.mark.parametrize(("retry_after", "seconds"), [(None, 4.0), (2.0, 4.0), (30.0, 30.0)])
def test_retry_after_wins_when_longer(retry_after: float | None, seconds: float) -> None:
    """The receiver's Retry-After replaces the backoff only when it asks for longer."""
    result = DeliveryResult(ok=False, retry_after=retry_after)
    at = next_attempt(NOW, 3, result, initial=1.0, maximum=300.0, jitter=0.0)
    assert at == NOW + timedelta(seconds=seconds)


async def test_delivers_in_order_and_counts(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Pending messages go out oldest first, are removed, and are counted as sent."""
    sink = await make_sink()
    clock, results = WallClock(NOW), Recorder()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock)
    for i in range(3):
        await enqueue(store, f"msg-{i}", "hook", *events(10 * i))
    sent = await delivery(store, [hook], clock, results).deliver_due(NOW)
    assert sent == 3
    assert [r.headers["webhook-id"] for r in sink.received] == ["msg-0", "msg-1", "msg-2"]
    assert await store.pending_counts() in ({}, {"hook": 0})
    assert results.calls == [("hook", "sent")] * 3


async def test_slack_429_delays_only_slack(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Retry-After: 2 holds Slack's queue two seconds while the webhook keeps delivering."""
    sink = await make_sink()
    sink.script(Reply(429, "rate_limited", {"Retry-After": "2"}), path="/slack")
    clock, results, pace = WallClock(NOW), Recorder(), FakeTime()
    pacer = SlackPacer(clock=pace.clock, sleep=pace.sleep)
    slack = SlackNotifier("slack", sink.url_for("/slack"), session, clock=clock, pacer=pacer)
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock)
    outbox = delivery(store, [slack, hook], clock, results)
    await enqueue(store, "s1", "slack", *events(1))
    await enqueue(store, "s2", "slack", *events(3))
    await enqueue(store, "h1", "hook", *events(5))

    assert await outbox.deliver_due(clock()) == 1
    assert [r.status for r in sink.on("/slack")] == [429]
    await enqueue(store, "h2", "hook", *events(7))
    await enqueue(store, "s3", "slack", *events(9))

    assert await outbox.deliver_due(clock.advance(1.999)) == 1  # the webhook, not Slack
    assert len(sink.on("/slack")) == 1
    assert [r.headers["webhook-id"] for r in sink.accepted("/hook")] == ["h1", "h2"]

    assert await outbox.deliver_due(clock.advance(0.001)) == 3
    texts = [r.json()["blocks"][2]["text"]["text"] for r in sink.accepted("/slack")]
    assert [t.split(" · ")[1] for t in texts] == ["m1@x.example", "m3@x.example", "m9@x.example"]
    assert pace.sleeps == [1.0, 1.0, 1.0]  # paced at one per second, without real waiting
    assert ("slack", "failed") in results.calls
    assert await store.pending_counts() in ({}, {"slack": 0, "hook": 0})


async def test_500_then_recovery_loses_nothing(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A receiver failing with 500 for a while then recovering gets every event exactly once."""
    sink = await make_sink()
    sink.script(*[Reply(500)] * 4, path="/hook")
    clock, results = WallClock(NOW), Recorder()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock, secret="s3cret")
    outbox = delivery(store, [hook], clock, results)
    expected: list[str] = []
    for i in range(5):
        grouped = events(10 * i, 3)
        expected += [e.id for e in grouped]
        await enqueue(store, f"msg-{i}", "hook", *grouped)

    for _ in range(20):  # passes five minutes apart, as many as it takes
        await outbox.deliver_due(clock.advance(300))
        if not await store.pending_counts() or not any((await store.pending_counts()).values()):
            break

    got = [e["id"] for e in sink.webhook_events("/hook")]
    assert got == expected  # every event, in order, none twice
    assert len(set(got)) == 15
    assert [r.status for r in sink.on("/hook")][:5] == [500, 500, 500, 500, 200]
    assert {r.headers["webhook-id"] for r in sink.on("/hook")[:5]} == {"msg-0"}
    assert results.calls.count(("hook", "failed")) == 4
    assert results.calls.count(("hook", "sent")) == 5


async def test_backoff_schedule_of_a_failing_head(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Each failure pushes the head back 1, 2, 4 … seconds; nothing is sent before that."""
    sink = await make_sink()
    sink.answer_by_default(Reply(503))
    clock, results = WallClock(NOW), Recorder()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock)
    outbox = delivery(store, [hook], clock, results)
    await enqueue(store, "msg", "hook", *events(1))
    for wait in (1.0, 2.0, 4.0, 8.0):
        await outbox.deliver_due(clock())
        attempts = len(sink.received)
        await outbox.deliver_due(clock.advance(wait - 0.01))
        assert len(sink.received) == attempts  # still waiting
        clock.advance(0.01)
    await outbox.deliver_due(clock())
    assert len(sink.received) == 5


async def test_old_message_is_dropped_and_the_queue_moves_on(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A message still failing after 24 h is dropped with an error log; the next one goes out."""
    sink = await make_sink()
    sink.script(Reply(503), path="/hook")
    clock, results = WallClock(NOW), Recorder()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock)
    outbox = delivery(store, [hook], clock, results)
    await enqueue(store, "old", "hook", *events(1))
    assert await outbox.deliver_due(clock()) == 0
    later = clock.advance(24 * 3600 + 1)
    await enqueue(store, "new", "hook", *events(3), at=later - timedelta(minutes=5))
    with capture_logs() as logs:
        sent = await outbox.deliver_due(later)
    assert sent == 1
    assert [r.headers["webhook-id"] for r in sink.accepted()] == ["new"]
    assert results.calls == [("hook", "failed"), ("hook", "dropped"), ("hook", "sent")]
    (dropped,) = [line for line in logs if line["log_level"] == "error"]
    assert dropped["notifier"] == "hook" and dropped["message_id"] == "old"
    assert dropped["attempts"] == 1 and "503" in dropped["last_error"]


async def test_refused_message_is_dropped_at_once(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A 400 (the message itself refused) is dropped so it cannot block the queue for a day."""
    sink = await make_sink()
    sink.script(Reply(400, "invalid_payload"), path="/slack")
    clock, results, pace = WallClock(NOW), Recorder(), FakeTime()
    pacer = SlackPacer(clock=pace.clock, sleep=pace.sleep)
    slack = SlackNotifier("slack", sink.url_for("/slack"), session, clock=clock, pacer=pacer)
    outbox = delivery(store, [slack], clock, results)
    await enqueue(store, "bad", "slack", *events(1))
    await enqueue(store, "good", "slack", *events(3))
    assert await outbox.deliver_due(clock()) == 1
    assert [r.status for r in sink.received] == [400, 200]
    assert results.calls == [("slack", "failed"), ("slack", "dropped"), ("slack", "sent")]


class Exploding:
    """A notifier with a bug: it raises instead of answering."""

    name = "broken"
    type = "webhook"

    async def send(self, message_id: str, grouped: Sequence[Event]) -> DeliveryResult:
        raise RuntimeError("bug")


async def test_broken_notifier_never_blocks_the_others(
    store: Store, session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A notifier that raises is retried later; the other notifier delivers everything."""
    sink = await make_sink()
    clock, results = WallClock(NOW), Recorder()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, clock=clock)
    outbox = delivery(store, [Exploding(), hook], clock, results)
    await enqueue(store, "b1", "broken", *events(1))
    for i in range(3):
        await enqueue(store, f"h{i}", "hook", *events(10 * i))
    with capture_logs() as logs:
        assert await outbox.deliver_due(clock()) == 3
    assert ("broken", "failed") in results.calls
    assert any(line.get("notifier") == "broken" for line in logs)
    assert await store.pending_counts() in ({"broken": 1}, {"broken": 1, "hook": 0})


async def test_wake_sends_at_once_and_stop_is_prompt(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """In the daemon loop a wake-up sends new messages without waiting for the idle poll."""
    store, sink = MemoryOutbox(), await make_sink()
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session)
    outbox = OutboxDelivery(store, [hook], clock=lambda: NOW, idle_poll=3600)
    running = asyncio.create_task(outbox.run())
    await asyncio.sleep(0)  # let the loop start and go idle
    await enqueue(store, "msg", "hook", *events(1))
    outbox.wake()
    await sink.wait_for(lambda got: len(got) == 1, within=5)
    await outbox.stop()
    await asyncio.wait_for(running, 1)
    assert store.delivered[0].id == "msg"


async def test_stop_abandons_a_hanging_send_and_keeps_the_message(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Stopping during a send that hangs returns within the grace; the message stays pending."""
    store, sink = MemoryOutbox(), await make_sink()
    sink.script(Reply(hold=True))
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session, timeout=60)
    outbox = OutboxDelivery(store, [hook], clock=lambda: NOW, idle_poll=3600)
    await enqueue(store, "msg", "hook", *events(1))
    running = asyncio.create_task(outbox.run())
    await sink.wait_for(lambda got: len(got) == 1, within=5)
    await outbox.stop(grace=0.05)
    await asyncio.wait_for(running, 1)
    assert [m.id for m in store.pending] == ["msg"] and store.pending[0].attempts == 0


class FlakyStore(MemoryOutbox):
    """The store fails the first read, as a locked or full disk might."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def due_messages(self, notifier: str, now: object, limit: int) -> list[OutboxMessage]:
        if self.failures:
            self.failures -= 1
            raise OSError("disk I/O error")
        return await super().due_messages(notifier, now, limit)  # type: ignore[arg-type]


async def test_loop_survives_a_store_error(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A failing store read is logged and the loop tries again on its idle poll."""
    store, sink = FlakyStore(), await make_sink()
    await enqueue(store, "msg", "hook", *events(1))
    hook = WebhookNotifier("hook", sink.url_for("/hook"), session)
    ticks: list[float] = []

    async def quick(seconds: float) -> None:
        ticks.append(seconds)
        await asyncio.sleep(0)

    outbox = OutboxDelivery(store, [hook], clock=lambda: NOW, sleep=quick, idle_poll=1.0)
    with capture_logs() as logs:
        running = asyncio.create_task(outbox.run())
        await sink.wait_for(lambda got: len(got) == 1, within=5)
        await outbox.stop()
        await asyncio.wait_for(running, 1)
    assert logs[0]["event"] == "outbox delivery pass failed" and "disk I/O" in logs[0]["error"]
    assert ticks and ticks[0] == 1.0
