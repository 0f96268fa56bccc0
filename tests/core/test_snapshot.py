"""Merging a poll into the last snapshot, and diffing two snapshots."""

from __future__ import annotations

import pytest
from msgspec import structs

from monitor.core.snapshot import diff, merge
from monitor.smartlead.models import Account

from .factories import account, failure_poll, inventory, smtp_down

A1, A2, A3 = account(1), account(2), account(3)
BEFORE = {1: A1, 2: A2, 3: A3}


def test_inventory_replaces_the_snapshot() -> None:
    """An inventory is the whole truth: accounts it did not list are gone."""
    fresh = smtp_down(2)
    assert merge(BEFORE, inventory(A1, fresh)) == {1: A1, 2: fresh}


def test_failure_poll_overlays_its_rows() -> None:
    """A failure poll updates the rows it saw and keeps every other account."""
    fresh = smtp_down(2)
    assert merge(BEFORE, failure_poll([fresh])) == {1: A1, 2: fresh, 3: A3}


def test_failure_poll_adds_an_account_it_never_saw() -> None:
    """A failing account new to the snapshot joins it."""
    newcomer = smtp_down(9)
    assert merge(BEFORE, failure_poll([newcomer]))[9] is newcomer


def test_confirmations_overlay_the_rows() -> None:
    """A by-id row is fresher than the list row of the same poll."""
    listed, confirmed = smtp_down(2), account(2, email="renamed@example.com")
    merged = merge(BEFORE, failure_poll([listed], confirmed={2: confirmed}))
    assert merged[2] is confirmed


@pytest.mark.parametrize("poll", ["failure", "inventory"])
def test_a_404_removes_the_account(poll: str) -> None:
    """A by-id 404 removes the account whichever poll asked."""
    result = (
        failure_poll(confirmed={3: None})
        if poll == "failure"
        else inventory(A1, A2, A3, confirmed={3: None})
    )
    assert merge(BEFORE, result) == {1: A1, 2: A2}


def test_a_404_for_an_unknown_account_is_harmless() -> None:
    """Removing an account the snapshot never had changes nothing."""
    assert merge(BEFORE, failure_poll(confirmed={42: None})) == BEFORE


def test_merge_leaves_the_previous_snapshot_alone() -> None:
    """The previous snapshot is not mutated, so a failed commit can keep it."""
    before = dict(BEFORE)
    merge(before, failure_poll([smtp_down(1)], confirmed={2: None}))
    assert before == BEFORE


CHANGED = smtp_down(2)
NEW = account(4)

# (case, previous, current, upserted ids, removed ids)
DIFFS: list[tuple[str, dict[int, Account], dict[int, Account], list[int], list[int]]] = [
    ("identical objects", BEFORE, dict(BEFORE), [], []),
    ("equal values", BEFORE, {i: structs.replace(a) for i, a in BEFORE.items()}, [], []),
    ("a changed row", BEFORE, {**BEFORE, 2: CHANGED}, [2], []),
    ("a new account", BEFORE, {**BEFORE, 4: NEW}, [4], []),
    ("a removed account", BEFORE, {1: A1, 3: A3}, [], [2]),
    ("everything at once", BEFORE, {1: A1, 2: CHANGED, 4: NEW}, [2, 4], [3]),
    ("from nothing", {}, BEFORE, [1, 2, 3], []),
    ("to nothing", BEFORE, {}, [], [1, 2, 3]),
]


@pytest.mark.parametrize(
    ("previous", "current", "upserted", "removed"),
    [pytest.param(*case[1:], id=case[0]) for case in DIFFS],
)
def test_diff_table(
    previous: dict[int, Account],
    current: dict[int, Account],
    upserted: list[int],
    removed: list[int],
) -> None:
    """The diff names new and changed accounts and removed ids, nothing else."""
    changes = diff(previous, current)
    assert sorted(a.id for a in changes.upserted) == upserted
    assert sorted(changes.removed) == removed
    assert bool(changes) is bool(upserted or removed)


def test_diff_carries_the_current_rows() -> None:
    """An upserted account is the current row, ready to write."""
    changes = diff(BEFORE, {**BEFORE, 2: CHANGED})
    assert changes.upserted == [CHANGED]
