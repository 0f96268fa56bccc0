"""A cycle is committed whole or not at all, whatever fails half-way."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3

import pytest
from msgspec import structs

from monitor.core.model import IssueKind, PollKind
from monitor.store import Cycle, StoreError, WorkspaceState
from monitor.store.sqlite import SQLiteStore

from .store_data import OpenStore, account, cycle, event, issue, message, poll_status

NO_LIMIT = 1_073_741_823  # SQLite's largest max_page_count


async def set_max_pages(store: SQLiteStore, pages: int | None) -> None:
    """Cap the file at `pages` (None: its current size), as a full disk would.

    `max_page_count` lives on the connection, so this reaches it through the worker: the one
    place the store's private runner is used by a test.
    """

    def cap(con: sqlite3.Connection) -> None:
        limit = pages or con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count = {limit}")

    await store._run("capping the file", cap)


async def committed_state(store: SQLiteStore) -> tuple[WorkspaceState, dict[str, int]]:
    return await store.load("default"), await store.pending_counts()


def big_cycle(first_id: int) -> Cycle:
    """A cycle touching every table, large enough to need new pages."""
    return cycle(
        poll_status=poll_status(poll=PollKind.INVENTORY, accounts=2000),
        accounts_upserted=[account(i) for i in range(first_id, first_id + 2000)],
        accounts_removed=[1],
        issues_upserted=[issue(i, IssueKind.IMAP_FAILED) for i in range(first_id, first_id + 50)],
        issues_removed=[issue(1).key],
        outbox=[message(f"m{first_id}", "slack")],
    )


async def seed(store: SQLiteStore) -> None:
    await store.commit(
        cycle(
            accounts_upserted=[account(1), account(2)],
            issues_upserted=[issue(1)],
            outbox=[message("m0", "slack")],
        )
    )


async def test_full_disk_loses_no_committed_state(open_store: OpenStore) -> None:
    """A commit failing with a full disk raises StoreError and leaves the last commit whole."""
    store = await open_store()
    await seed(store)
    before = await committed_state(store)
    await set_max_pages(store, None)
    with pytest.raises(StoreError, match="database or disk is full") as raised:
        await store.commit(big_cycle(1000))
    assert str(store.path) in str(raised.value)
    assert await committed_state(store) == before

    await set_max_pages(store, NO_LIMIT)  # space freed: the same store works again
    await store.commit(big_cycle(1000))
    assert len((await store.load("default")).accounts) == 2001


async def test_full_disk_state_survives_reopen(open_store: OpenStore) -> None:
    """After a failed commit, a new store on the same file sees exactly the last commit."""
    store = await open_store()
    await seed(store)
    before = await committed_state(store)
    await set_max_pages(store, None)
    with pytest.raises(StoreError):
        await store.commit(big_cycle(1000))
    await store.close()
    assert await committed_state(await open_store()) == before


async def test_unserialisable_event_rolls_back_the_whole_cycle(open_store: OpenStore) -> None:
    """An outbox row that cannot be written undoes the accounts, issues and poll before it."""
    store = await open_store()
    await seed(store)
    before = await committed_state(store)
    broken = structs.replace(event(2), detail={"error": object()})
    bad = dataclasses.replace(
        big_cycle(1000), outbox=[message("ok"), message("bad", "slack", broken)]
    )
    with pytest.raises(StoreError, match="commit failed: TypeError: Encoding objects of type"):
        await store.commit(bad)
    assert await committed_state(store) == before


async def test_cancelled_commit_is_all_or_nothing(open_store: OpenStore) -> None:
    """Cancelling the awaiting task never leaves a cycle half-written."""
    store = await open_store()
    await seed(store)
    before = await committed_state(store)
    task = asyncio.create_task(store.commit(big_cycle(1000)))
    await asyncio.sleep(0)  # let the commit reach the worker, then cancel the waiter
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after, pending = await committed_state(store)  # queued behind the commit if it ran
    assert (after, pending) == before or (len(after.accounts), pending) == (2001, {"slack": 2})
