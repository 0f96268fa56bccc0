"""The SmartLead API misbehaving under the real daemon: nothing false is notified, and nothing
real is missed once the API recovers (contract §4: all-or-nothing polls, recovery needs
positive evidence, a failed poll never resolves an issue)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
from collections.abc import Mapping

import pytest

from monitor.smartlead.simulator import Faults
from monitor.smartlead.simulator.faults import Malformed

from .conftest import MakeRig
from .rig import Rig

pytestmark = pytest.mark.e2e

SMTP = {"isSmtpSuccess": "false"}
BLOCKED = {"isWarmupBlocked": "true"}
FAULT_SEED = 20261128
MALFORMED: tuple[Malformed, ...] = ("html", "object", "truncated")


def inject_random_fault(faults: Faults, rng: random.Random) -> str:
    """One seeded misbehaviour on a random page of a random query (or on a by-id lookup)."""
    filters: Mapping[str, str] | None = rng.choice([SMTP, BLOCKED, None])
    offset = rng.choice([None, 0, 100, 200])
    kind = rng.choice(["5xx", "5xx", "429", "timeout", "garbage", "garbage", "by_id"])
    if kind == "5xx":
        status = rng.choice([500, 502, 503, 504])
        faults.status(status, times=rng.randint(1, 3), filters=filters, offset=offset)
    elif kind == "429":  # a storm: longer than the client's retries
        faults.status(429, retry_after="0.2", times=rng.randint(2, 4), filters=filters)
    elif kind == "timeout":  # slower than polling.retry.timeout
        faults.delay(0.8, filters=filters, offset=offset)
    elif kind == "by_id":
        faults.status(rng.choice([500, 503]), route="by_id", times=rng.randint(1, 3))
    else:
        body = rng.choice(MALFORMED)
        faults.malformed(body, filters=filters, offset=offset)
        return body
    return kind


async def test_flaky_api_notifies_nothing_false_and_misses_nothing(make_rig: MakeRig) -> None:
    """Seeded API faults on random pages: no false fire or resolve, all told after recovery."""
    rig = await make_rig(
        accounts=320,
        seed=21,
        overrides={"polling": {"retry": {"timeout": 0.5}}},
        start=False,
    )
    world, rng = rig.world, random.Random(FAULT_SEED)
    low, high = list(rig.fleet.ids()[:200]), list(rig.fleet.ids()[200:])
    rng.shuffle(low)
    rng.shuffle(high)
    # 110 SMTP failures with the lowest ids fill the first 110 rows of the failing list: two
    # pages, so drift can hide rows. Everything else that fails sorts after them.
    stuck_smtp, stuck_other, churners = sorted(low[:110]), high[:12], high[12:70]
    hidden = stuck_smtp[100:105]  # shifted out of page 2 by the drift below
    for account_id in stuck_smtp:
        world.set_failing(account_id, "smtp", True)
    for account_id, condition in zip(
        stuck_other, itertools.cycle(("blocked", "imap", "reputation")), strict=False
    ):
        world.set_failing(account_id, condition, True)
    world.begin()
    await rig.h.start()
    await rig.h.wait_ready()
    await rig.settle()

    # Pagination drift for the whole faulty phase: rows of still-failing accounts shift out of
    # the second SMTP page, and blocked accounts vanish from the blocked list.
    rig.faults.drift(stuck_smtp[:5], offset=100, filters=SMTP, times=None)
    rig.faults.drift(stuck_other[::3], filters=BLOCKED, times=None)
    injected: list[str] = []

    async def misbehave() -> None:
        while True:
            if len(rig.faults) < 8:
                injected.append(inject_random_fault(rig.faults, rng))
            await asyncio.sleep(0.1)

    chaos = asyncio.create_task(misbehave())
    try:
        for _ in range(30):  # ~9 s, about 30 failure polls and 9 inventories
            world.flip(churners, 2)
            await asyncio.sleep(0.3)
    finally:
        chaos.cancel()
    rig.faults.clear()
    got = await rig.settle()

    rig.assert_faithful(got)
    statuses = set(rig.h.simulator.statuses())
    assert {429, 200} <= statuses and statuses & {500, 502, 503, 504}, statuses
    confirmed = {seen.path for seen in rig.h.simulator.history if seen.route == "by_id"}
    assert {f"/api/v1/email-accounts/{i}/" for i in hidden} <= confirmed, "hidden, unconfirmed"
    polls = [r for r in rig.h.logs() if r.get("event") == "poll"]
    outcomes = {r["outcome"] for r in polls}
    assert outcomes == {"ok", "failed"}, f"faults never failed a poll: {outcomes}"
    workspace = rig.workspace_events(got)
    assert all(kind == "api_unavailable" for kind, _ in workspace), workspace
    assert not workspace or workspace[-1][1] == "resolved", workspace
    assert rig.h.running
    print(
        f"faults injected: {sorted(collections.Counter(injected).items())}; polls: "
        f"{collections.Counter(r['outcome'] for r in polls)}; events {len(got.events)}"
    )


async def wait_answers(rig: Rig, status: int, more: int) -> None:
    """Wait until the simulator answered `status` `more` more times (several poll cycles)."""
    target = rig.h.simulator.statuses().count(status) + more
    await rig.h.wait_until(
        lambda: rig.h.simulator.statuses().count(status) >= target,
        15,
        f"{more} more answers {status}",
    )


async def wait_heard(rig: Rig, event: tuple[str, str]) -> None:
    """Wait until the receiver heard this (kind, status) of a workspace-level issue."""
    await rig.h.wait_until(
        lambda: event in rig.workspace_events(rig.heard()), 15, f"{event} during the outage"
    )


async def test_revoked_key_and_dead_api_hold_every_account_issue(make_rig: MakeRig) -> None:
    """A revoked key or dead API is one workspace issue; account changes are told after it."""
    rig = await make_rig(accounts=150, seed=5, start=False)
    world = rig.world
    ids = list(rig.fleet.ids())
    for account_id in ids[:10]:
        world.set_failing(account_id, "smtp", True)
    for account_id in ids[10:13]:
        world.set_failing(account_id, "blocked", True)
    world.begin()
    await rig.h.start()
    await rig.h.wait_ready()
    await rig.settle()

    outages = (  # (outage, what heals meanwhile, what breaks meanwhile, what must fire)
        ("revoked", (ids[0:5], "smtp"), (ids[20:25], "imap"), ("api_auth_failed", "firing")),
        ("dead", (ids[20:25], "imap"), (ids[40:45], "blocked"), ("api_unavailable", "firing")),
    )
    for outage, (healed, healed_condition), (broken, broken_condition), fire in outages:
        before = len(rig.heard().events)
        if outage == "revoked":
            rig.h.simulator.revoke_key()
        else:
            rig.faults.status(500, route=None, times=None)
        for account_id in healed:
            world.set_failing(account_id, healed_condition, False)
        for account_id in broken:
            world.set_failing(account_id, broken_condition, True)
        await wait_heard(rig, fire)
        await wait_answers(rig, 401 if outage == "revoked" else 500, 20)
        during = [(e["kind"], e["status"], e["account"]) for e in rig.heard().events[before:]]
        assert during == [(*fire, None)], f"{outage}: told during the outage: {during}"
        rig.h.simulator.restore_key()
        rig.faults.clear()
        await rig.settle()

    got = rig.heard()
    rig.assert_faithful(got)
    assert rig.workspace_events(got) == [
        ("api_auth_failed", "firing"),
        ("api_auth_failed", "resolved"),
        ("api_unavailable", "firing"),
        ("api_unavailable", "resolved"),
    ]
