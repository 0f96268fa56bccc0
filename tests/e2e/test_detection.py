"""Issue 3 end to end: a 400-account fleet over four pages, the real daemon, exact issues.

Failures are planted on every page of the inventory, and 130 SMTP failures make the
`isSmtpSuccess=false` query itself span two pages. The expected issues are exactly what
was planted; the daemon must report that set, no more and no less.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from monitor.smartlead.simulator import Fleet

from .conftest import MakeHarness
from .harness import API_KEY, QUIET_FLEET, Harness

pytestmark = pytest.mark.e2e

ACCOUNTS = 400  # four inventory pages of 100
IssueSet = set[tuple[int | None, str]]
# Short intervals keep each test to a few seconds; 400 accounts are 4 cheap pages.
QUICK = {"polling": {"failure_interval": 0.5, "inventory_interval": 1.5}}


def plant(fleet: Fleet) -> IssueSet:
    """Plant failures of every kind on every page; return the (account, kind) set expected."""
    ids = fleet.ids()
    expected: IssueSet = set()
    for index in range(1, len(ids), 3)[:130]:  # 130 SMTP failures: two failure-poll pages
        fleet.set_smtp(ids[index], ok=False)
        expected.add((ids[index], "smtp_failed"))
    for index in range(2, len(ids), 50):
        fleet.set_imap(ids[index], ok=False)
        expected.add((ids[index], "imap_failed"))
    for index in range(10, len(ids), 40):
        fleet.set_warmup_status(ids[index], "ACTIVE")
        fleet.set_blocked(ids[index], True)
        expected.add((ids[index], "warmup_blocked"))
    for index in range(20, len(ids), 45):
        fleet.set_warmup_status(ids[index], "ACTIVE")
        fleet.set_reputation(ids[index], 55.0, form="percent")
        expected.add((ids[index], "reputation_low"))
    pages = {ids.index(account) // 100 for account, _ in expected if account is not None}
    assert pages == {0, 1, 2, 3}
    return expected


def heal(fleet: Fleet) -> IssueSet:
    """Heal a few issues of every kind, spread over the pages; return the healed set."""
    ids = fleet.ids()
    healed: IssueSet = set()
    for index in (1, 103, 205, 301):
        fleet.set_smtp(ids[index], ok=True)
        healed.add((ids[index], "smtp_failed"))
    for index in (2, 302):
        fleet.set_imap(ids[index], ok=True)
        healed.add((ids[index], "imap_failed"))
    for index in (10, 210):
        fleet.set_blocked(ids[index], False)
        healed.add((ids[index], "warmup_blocked"))
    for index in (20, 380):
        fleet.set_reputation(ids[index], 96.0)
        healed.add((ids[index], "reputation_low"))
    return healed


def keyed(events: list[dict[str, Any]], status: str) -> Counter[tuple[int | None, str]]:
    """How many events of `status` the sink got per (account, kind)."""
    return Counter(
        ((e["account"] or {}).get("id"), e["kind"]) for e in events if e["status"] == status
    )


async def detected(make_harness: MakeHarness, **options: Any) -> tuple[Harness, IssueSet]:
    """A daemon on the planted fleet, once its open issues equal the planted set."""
    fleet = Fleet(ACCOUNTS, seed=11, initial=QUIET_FLEET)
    expected = plant(fleet)
    harness = await make_harness(fleet=fleet, overrides=QUICK, **options)
    await harness.wait_ready()
    await harness.wait_until(
        lambda: set(keyed(harness.events(), "firing")) == expected,
        20,
        "a firing event for every planted failure",
    )
    return harness, expected


async def test_planted_failures_on_every_page_are_detected_exactly(
    make_harness: MakeHarness,
) -> None:
    """Open issues and firing events equal the planted set: none missed, none extra, no repeat."""
    h, expected = await detected(make_harness)
    await h.wait_polls(failure=2, inventory=1)
    assert await h.open_issues() == expected
    await h.wait_outbox_empty()
    firing = keyed(h.events(), "firing")
    assert set(firing) == expected
    assert [key for key, count in firing.items() if count != 1] == []
    assert keyed(h.events(), "resolved") == Counter()
    assert len({e["id"] for e in h.events()}) == len(h.events())
    inventory = h.polls("inventory", "ok")[-1]
    assert inventory["accounts"] == ACCOUNTS
    assert inventory["pages"] >= 4
    assert API_KEY not in h.log_path().read_text()


async def test_healed_issues_resolve_exactly_once(make_harness: MakeHarness) -> None:
    """Healing issues of every kind on every page sends one resolved event per healed issue."""
    h, expected = await detected(make_harness)
    healed = heal(h.fleet)
    await h.wait_until(
        lambda: set(keyed(h.events(), "resolved")) >= healed, 20, "every healed issue resolved"
    )
    await h.wait_polls(failure=2, inventory=1)
    await h.wait_outbox_empty()
    assert keyed(h.events(), "resolved") == Counter(dict.fromkeys(healed, 1))
    assert await h.open_issues() == expected - healed
    assert set(keyed(h.events(), "firing")) == expected  # nothing fired twice or anew
    assert sum(keyed(h.events(), "firing").values()) == len(expected)


async def test_a_failing_page_resolves_nothing_while_it_fails(make_harness: MakeHarness) -> None:
    """While offset 100 answers 500 in every list query, healed accounts stay open."""
    h, expected = await detected(make_harness)
    h.simulator.faults.status(500, offset=100, route="list", times=None)
    await h.wait_polls(failure=1, inventory=1, outcome="failed")
    healed = heal(h.fleet)
    await h.wait_polls(failure=3, inventory=2, outcome="failed")
    assert keyed(h.events(), "resolved") == Counter()
    assert await h.open_issues() == expected | {(None, "api_unavailable")}
    h.simulator.faults.clear()
    await h.wait_until(
        lambda: set(keyed(h.events(), "resolved")) == healed | {(None, "api_unavailable")},
        20,
        "healed issues resolved once the page answers again",
    )
    await h.wait_polls(failure=2, inventory=1, outcome="ok")
    await h.wait_outbox_empty()
    assert keyed(h.events(), "resolved") == Counter(
        dict.fromkeys(healed | {(None, "api_unavailable")}, 1)
    )
    assert await h.open_issues() == expected - healed


async def test_a_restart_renotifies_nothing_and_forgets_nothing(make_harness: MakeHarness) -> None:
    """After a restart on the same state file: no new event ids, the same open issues."""
    h, expected = await detected(make_harness)
    healed = heal(h.fleet)
    await h.wait_until(
        lambda: set(keyed(h.events(), "resolved")) >= healed, 20, "healed issues resolved"
    )
    await h.wait_outbox_empty()
    before = await h.open_issues()
    delivered = {e["id"] for e in h.events()}
    requests = len(h.sink.received)
    await h.restart()
    await h.wait_polls(failure=3, inventory=1)
    assert await h.open_issues() == before == expected - healed
    await h.wait_outbox_empty()
    assert {e["id"] for e in h.events()} == delivered
    assert len(h.sink.received) == requests


async def test_rows_missing_from_the_failing_list_resolve_only_on_evidence(
    make_harness: MakeHarness,
) -> None:
    """Accounts left out of the failing list but still failing by id stay open; a 404 resolves
    its issue once, as account_removed."""
    h = await make_harness(overrides=QUICK, accounts=150)
    ids = h.fleet.ids()
    for index in (3, 80, 140):
        h.fleet.set_smtp(ids[index], ok=False)
    await h.wait_until(lambda: len(keyed(h.events(), "firing")) == 3, 10, "three firing events")
    h.simulator.faults.drift([ids[3], ids[80]], times=None)  # still failing, just not listed
    await h.wait_polls(failure=3)
    assert keyed(h.events(), "resolved") == Counter()
    h.fleet.remove_account(ids[140])
    await h.wait_until(lambda: keyed(h.events(), "resolved"), 10, "the removed account resolved")
    await h.wait_polls(failure=2, inventory=1)
    await h.wait_outbox_empty()
    resolved = [e for e in h.events() if e["status"] == "resolved"]
    assert [(e["account"]["id"], e["reason"]) for e in resolved] == [(ids[140], "account_removed")]
    assert await h.open_issues() == {(ids[3], "smtp_failed"), (ids[80], "smtp_failed")}
