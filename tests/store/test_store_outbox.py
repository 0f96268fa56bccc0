"""The outbox: in order per notifier, head-of-line retries, no double enqueue."""

from __future__ import annotations

from datetime import timedelta

from monitor.store.sqlite import SQLiteStore

from .store_data import T0, OpenStore, cycle, message


async def enqueue(store: SQLiteStore, *ids_and_notifiers: tuple[str, str]) -> None:
    """One cycle per message, so order comes from commits, not from one list."""
    for message_id, notifier in ids_and_notifiers:
        await store.commit(cycle(outbox=[message(message_id, notifier)]))


async def ids(store: SQLiteStore, notifier: str, at: timedelta = timedelta(0)) -> list[str]:
    return [m.id for m in await store.due_messages(notifier, T0 + at, 100)]


async def test_messages_come_out_in_commit_order_per_notifier(open_store: OpenStore) -> None:
    """Each notifier sees its own messages oldest first, whatever the ids sort like."""
    store = await open_store()
    await enqueue(store, ("z", "slack"), ("b", "webhook"), ("a", "slack"), ("y", "slack"))
    await store.commit(cycle(outbox=[message("c2", "webhook"), message("c1", "webhook")]))
    assert await ids(store, "slack") == ["z", "a", "y"]
    assert await ids(store, "webhook") == ["b", "c2", "c1"]
    assert await ids(store, "alertmanager") == []
    assert await store.pending_counts() == {"slack": 3, "webhook": 3}


async def test_limit_takes_the_oldest(open_store: OpenStore) -> None:
    """`limit` cuts the queue after the oldest messages; zero returns none."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"), ("3", "slack"))
    assert [m.id for m in await store.due_messages("slack", T0, 2)] == ["1", "2"]
    assert await store.due_messages("slack", T0, 0) == []


async def test_failed_head_blocks_its_notifier_until_due(open_store: OpenStore) -> None:
    """A head waiting for its retry holds back the messages behind it, not other notifiers."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"), ("w", "webhook"))
    await store.mark_failed("1", 1, T0 + timedelta(seconds=60), "HTTP 429")

    assert await ids(store, "slack") == []
    assert await ids(store, "slack", timedelta(seconds=59, microseconds=999999)) == []
    assert await ids(store, "webhook") == ["w"]
    head, second = await store.due_messages("slack", T0 + timedelta(seconds=60), 10)
    assert (head.id, head.attempts, head.last_error) == ("1", 1, "HTTP 429")
    assert head.next_attempt_at == T0 + timedelta(seconds=60)
    assert (second.id, second.attempts, second.next_attempt_at) == ("2", 0, None)


async def test_waiting_message_stops_the_batch_behind_it(open_store: OpenStore) -> None:
    """Due messages are returned only up to the first one still waiting: order is kept."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"), ("3", "slack"))
    await store.mark_failed("2", 1, T0 + timedelta(minutes=1), "timeout")
    assert await ids(store, "slack") == ["1"]
    assert await ids(store, "slack", timedelta(minutes=1)) == ["1", "2", "3"]


async def test_replayed_cycle_enqueues_nothing_twice(open_store: OpenStore) -> None:
    """Committing a message id again keeps one row and its retry state."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"))
    await store.mark_failed("1", 3, T0, "HTTP 500")
    await store.commit(cycle(outbox=[message("1", "slack"), message("2", "slack")]))
    assert await store.pending_counts() == {"slack": 2}
    head, _ = await store.due_messages("slack", T0, 10)
    assert (head.id, head.attempts, head.last_error) == ("1", 3, "HTTP 500")


async def test_delivered_and_dropped_messages_leave_the_queue(open_store: OpenStore) -> None:
    """mark_delivered and drop remove a message; unknown ids are ignored."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"), ("3", "webhook"))
    await store.mark_delivered("1")
    await store.drop("3")
    await store.mark_delivered("never-queued")
    await store.mark_failed("never-queued", 1, T0, "x")
    assert await ids(store, "slack") == ["2"]
    assert await store.pending_counts() == {"slack": 1}


async def test_long_errors_are_truncated(open_store: OpenStore) -> None:
    """A receiver's huge error body cannot bloat the outbox row."""
    store = await open_store()
    await enqueue(store, ("1", "slack"))
    await store.mark_failed("1", 1, T0, "x" * 100_000)
    (head,) = await store.due_messages("slack", T0, 1)
    assert head.last_error is not None and len(head.last_error) == 1000


async def test_outbox_survives_reopen(open_store: OpenStore) -> None:
    """Pending messages, their order and retry state are still there after a restart."""
    store = await open_store()
    await enqueue(store, ("1", "slack"), ("2", "slack"))
    await store.mark_failed("1", 2, T0 + timedelta(seconds=5), "HTTP 503")
    await store.close()
    reopened = await open_store()
    assert await ids(reopened, "slack") == []
    head, second = await reopened.due_messages("slack", T0 + timedelta(seconds=5), 10)
    assert (head.id, head.attempts, second.id) == ("1", 2, "2")
