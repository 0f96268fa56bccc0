"""The judge of the fault-injection runs can fail: a table of made-up notification streams,
each with the problem `world.py` must report (or none)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from monitor.smartlead.simulator import Fleet, InitialMix

from .world import World, false_or_repeated, heard, missed

QUIET = InitialMix(0.0, 0.0, 0.0, 0.0)


def event(
    event_id: str, account: int | None, kind: str, status: str, reminder: bool = False
) -> dict[str, Any]:
    return {
        "id": event_id,
        "kind": kind,
        "status": status,
        "reminder": reminder,
        "account": {"id": account} if account is not None else None,
    }


@pytest.fixture
def world() -> World:
    """Five mailboxes: the first fails SMTP throughout, the second failed and then recovered."""
    fleet = Fleet(5, seed=1, initial=QUIET)
    failing, healed, *_ = fleet.ids()
    world = World(fleet, random.Random(1))
    world.set_failing(failing, "smtp", True)
    world.set_failing(healed, "smtp", True)
    world.begin()
    world.set_failing(healed, "smtp", False)
    return world


def ids(world: World) -> tuple[int, int, int]:
    first, second, third, *_ = world.fleet.ids()
    return first, second, third


def test_a_faithful_stream_passes(world: World) -> None:
    """Fire, resolve, a reminder and a same-id duplicate are all fine."""
    failing, healed, _ = ids(world)
    stream = [
        event("a", failing, "smtp_failed", "firing"),
        event("a", failing, "smtp_failed", "firing"),
        event("r", failing, "smtp_failed", "firing", reminder=True),
        event("b", healed, "smtp_failed", "firing"),
        event("c", healed, "smtp_failed", "resolved"),
        event("w", None, "api_unavailable", "firing"),
        event("x", None, "api_unavailable", "resolved"),
    ]
    got = heard(stream)
    assert false_or_repeated(got, world) == []
    assert missed(got, world, {(failing, "smtp_failed")}) == []
    assert got.duplicates == 1


@pytest.mark.parametrize(
    ("stream", "says"),
    [
        ([("a", 0, "firing"), ("b", 0, "firing")], "firing where resolved was due"),
        ([("a", 1, "resolved")], "resolved where firing was due"),
        ([("a", 2, "firing")], "never showed it failing"),
        ([("a", 0, "firing"), ("b", 0, "resolved")], "never showed it healthy"),
        ([("w", None, "firing"), ("x", None, "firing")], "firing where resolved was due"),
    ],
    ids=["re-alert", "resolve-first", "false-fire", "false-resolve", "workspace-re-alert"],
)
def test_false_or_repeated_notifications_are_reported(
    world: World, stream: list[tuple[str, int | None, str]], says: str
) -> None:
    """Each kind of false or repeated notification is named."""
    accounts = ids(world)
    events = [
        event(i, accounts[a] if a is not None else None, "smtp_failed", s) for i, a, s in stream
    ]
    assert says in " ".join(false_or_repeated(heard(events), world))


def test_a_changed_copy_of_an_event_id_is_reported(world: World) -> None:
    """Two copies of one id must carry the same content."""
    failing, _, _ = ids(world)
    got = heard(
        [event("a", failing, "smtp_failed", "firing"), event("a", failing, "imap_failed", "firing")]
    )
    assert got.conflicts == ["a"]
    assert "different content" in " ".join(false_or_repeated(got, world))


def test_missed_and_stale_issues_are_reported(world: World) -> None:
    """A failing key nobody heard of, and an open issue for a healed key, are both named."""
    failing, healed, _ = ids(world)
    got = heard([event("b", healed, "smtp_failed", "firing")])
    problems = " ".join(missed(got, world, {(healed, "smtp_failed")}))
    assert f"({failing}, 'smtp_failed') is failing but the receiver last heard None" in problems
    assert f"({healed}, 'smtp_failed') healed but the receiver last heard firing" in problems
    assert "open issues differ from the fleet" in problems
