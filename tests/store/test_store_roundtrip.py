"""What the SQLite store is given comes back equal: accounts, issues, polls, messages."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.core.model import IssueKey, IssueKind, PollKind, Status
from monitor.smartlead.models import WarmupDetails
from monitor.store import StoreError, account_fields

from .store_data import T0, OpenStore, account, cycle, event, issue, message, poll_status

ACCOUNT_SHAPES = [
    account(1),
    account(2, warmup=None, client_id=None),
    account(3, warmup=WarmupDetails(None, None, None, None)),
    account(
        4,
        is_smtp_success=False,
        smtp_failure_error="535 5.7.8 Username and Password not accepted ✉",
        is_imap_success=None,
        imap_failure_error="IMAP timeout",
        daily_sent_count=None,
        message_per_day=None,
        warmup=WarmupDetails("INACTIVE", 0.0, True, "Blocked: bounce rate"),
    ),
    account(0, email="", from_name="Zoë \"quoted\" 'name'", esp="SOME_NEW_ESP"),
    account(2**62, client_id=2**40, daily_sent_count=-3),
]


async def test_accounts_round_trip(open_store: OpenStore) -> None:
    """Every shape of account, None and bool fields included, loads back equal."""
    store = await open_store()
    await store.commit(cycle(accounts_upserted=ACCOUNT_SHAPES))
    state = await store.load("default")
    assert state.accounts == {a.id: a for a in ACCOUNT_SHAPES}
    loaded = state.accounts[4]
    assert loaded.warmup is not None
    assert loaded.is_smtp_success is False and loaded.warmup.is_blocked is True


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 250])
async def test_account_batches_round_trip(open_store: OpenStore, size: int) -> None:
    """Snapshots written in batches of 100 rows lose and duplicate nothing at the edges."""
    store = await open_store()
    fleet = [account(i, daily_sent_count=i) for i in range(size)]
    await store.commit(cycle(accounts_upserted=fleet))
    assert (await store.load("default")).accounts == {a.id: a for a in fleet}


async def test_accounts_upsert_and_remove(open_store: OpenStore) -> None:
    """An upsert replaces the stored row and a removal deletes it."""
    store = await open_store()
    await store.commit(cycle(accounts_upserted=[account(1), account(2), account(3)]))
    changed = account(2, is_smtp_success=False, smtp_failure_error="boom")
    await store.commit(cycle(accounts_upserted=[changed], accounts_removed=[3, 99]))
    assert (await store.load("default")).accounts == {1: account(1), 2: changed}


async def test_workspaces_are_separate(open_store: OpenStore) -> None:
    """The same account id in two workspaces is two rows; removing one keeps the other."""
    store = await open_store()
    await store.commit(cycle("a", accounts_upserted=[account(1, email="a@x")]))
    await store.commit(cycle("b", accounts_upserted=[account(1, email="b@x")]))
    await store.commit(cycle("a", accounts_removed=[1]))
    assert (await store.load("a")).accounts == {}
    assert (await store.load("b")).accounts[1].email == "b@x"
    assert (await store.load("nobody")).accounts == {}


async def test_issues_round_trip(open_store: OpenStore) -> None:
    """Issues with and without a mailbox, nested detail and µs times load back equal."""
    store = await open_store()
    issues = [
        issue(1),
        issue(1, IssueKind.WARMUP_BLOCKED, detail={"reason": None, "nested": {"x": [1, 2.5]}}),
        issue(2, IssueKind.REPUTATION_LOW, firing=False, failing_streak=1, detail={"rep": 0.42}),
        issue(None, IssueKind.API_AUTH_FAILED, detail={"status": 401, "message": "Unauthorized"}),
        issue(None, IssueKind.API_UNAVAILABLE, reminders=3, reminded_for=14400.25, detail={}),
        issue(3, account=None),
    ]
    await store.commit(cycle(issues_upserted=issues))
    state = await store.load("default")
    assert state.issues == {i.key: i for i in issues}
    for loaded in state.issues.values():
        assert loaded.since.tzinfo is UTC and loaded.observed_at.tzinfo is UTC
    workspace_first = sorted(
        issues, key=lambda i: (-1 if i.key.account_id is None else i.key.account_id, i.key.kind)
    )
    assert await store.issues() == workspace_first


async def test_issues_update_and_remove(open_store: OpenStore) -> None:
    """An upserted issue replaces its row; removing a workspace-level key deletes only it."""
    store = await open_store()
    auth = issue(None, IssueKind.API_AUTH_FAILED)
    await store.commit(cycle(issues_upserted=[issue(1), auth, issue(1, workspace="other")]))
    resolved = issue(1, healthy_streak=1, observed_at=T0 + timedelta(hours=1))
    await store.commit(cycle(issues_upserted=[resolved], issues_removed=[auth.key]))
    assert list((await store.load("default")).issues.values()) == [resolved]
    assert {i.key.workspace for i in await store.issues()} == {"default", "other"}


async def test_times_in_other_zones_come_back_as_the_same_instant_in_utc(
    open_store: OpenStore,
) -> None:
    """An aware time in another zone is kept as the same instant, returned in UTC."""
    store = await open_store()
    paris = T0.astimezone(timezone(timedelta(hours=1)))
    await store.commit(cycle(issues_upserted=[issue(1, since=paris)]))
    loaded = (await store.issues())[0].since
    assert loaded == T0 and loaded.utcoffset() == timedelta(0)


async def test_naive_time_is_refused_and_nothing_is_written(open_store: OpenStore) -> None:
    """A naive datetime fails the commit with StoreError instead of guessing a zone."""
    store = await open_store()
    naive = datetime(2026, 11, 28, 10, 0)  # the point of the test
    with pytest.raises(StoreError, match="naive datetime"):
        await store.commit(
            cycle(accounts_upserted=[account(1)], issues_upserted=[issue(1, since=naive)])
        )
    assert (await store.load("default")).accounts == {}


async def test_poll_status_round_trip(open_store: OpenStore) -> None:
    """The last failure and inventory poll of a workspace load back equal, None fields too."""
    store = await open_store()
    failed = poll_status(
        poll=PollKind.INVENTORY,
        ok=False,
        error="HTTP 500 from /api/v1/email-accounts/?api_key=***",
        last_success_at=None,
        accounts=None,
    )
    await store.commit(cycle(poll_status=poll_status()))
    await store.commit(cycle(poll_status=failed))
    later = poll_status(at=T0 + timedelta(minutes=5), duration=0.5)
    await store.commit(cycle(poll_status=later))
    assert (await store.load("default")).polls == {
        PollKind.FAILURE: later,
        PollKind.INVENTORY: failed,
    }


async def test_outbox_message_round_trip(open_store: OpenStore) -> None:
    """A queued message comes back with its events as the webhook payload carries them."""
    store = await open_store()
    events = (
        event(1),
        event(2, IssueKind.IMAP_FAILED, Status.RESOLVED),
        event(None, IssueKind.API_AUTH_FAILED),
    )
    queued = message("m1", "webhook", *events)
    await store.commit(cycle(outbox=[queued]))
    assert await store.due_messages("webhook", T0, 10) == [queued]
    assert events[1].key == IssueKey("default", 2, IssueKind.IMAP_FAILED)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (b"\x93\x01\x02", "account 9: stored fields are unreadable"),
        (bytes(account_fields.encode(account(8))), "account 9: stored fields belong to account 8"),
    ],
)
async def test_a_damaged_account_row_fails_the_load_by_name(
    open_store: OpenStore, state_path: Path, fields: bytes, problem: str
) -> None:
    """A blob this store did not write for that row is an error naming the account, not an
    account with other data."""
    store = await open_store()
    await store.commit(cycle(accounts_upserted=[account(1)]))
    await store.close()
    with closing(sqlite3.connect(state_path)) as con, con:
        con.execute("INSERT INTO accounts VALUES ('default', 9, ?)", (fields,))
    store = await open_store()
    with pytest.raises(StoreError, match=problem):
        await store.load("default")
