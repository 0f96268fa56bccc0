"""`kill -9` of the daemon at seeded moments of its cycle, round after round: every event is
told at least once, a duplicate is only a second copy of an event id, and no issue is alerted
twice across restarts (contract §5 "state survives restarts", §6 durable outbox)."""

from __future__ import annotations

import asyncio
import random

import pytest

from .conftest import MakeRig
from .rig import Rig

pytestmark = pytest.mark.e2e

SMTP = {"isSmtpSuccess": "false"}
ROUNDS = 8
MOMENTS = ("mid_poll", "mid_delivery", "committed_undelivered", "random")


async def kill_at(rig: Rig, moment: str, rng: random.Random) -> None:
    """Bring the daemon to `moment` of a cycle, then SIGKILL it."""
    if moment == "mid_poll":  # a failure poll waits on its first page
        fault = rig.faults.delay(0.5, filters=SMTP)
        await rig.h.wait_until(lambda: fault.hits > 0, 10, "a failure poll in flight")
    elif moment == "mid_delivery":  # the receiver got the message; its answer is late
        arrivals = rig.sink.arrivals
        rig.sink.lag_next(1.0)
        await rig.h.wait_until(lambda: rig.sink.arrivals > arrivals, 10, "a delivery in flight")
    elif moment == "committed_undelivered":  # committed, but the receiver is down
        await rig.sink.down()
        wanted = rig.world.failing_now()
        await rig.h.wait_until(
            lambda: _account_level(rig, wanted), 10, "the change committed and served"
        )
    else:
        await asyncio.sleep(rng.uniform(0.0, 1.0))
    await rig.h.kill9()


async def _account_level(rig: Rig, wanted: set[tuple[int | None, str]]) -> bool:
    return {k for k in await rig.open_issues() if k[0] is not None} == wanted


async def test_kill9_at_seeded_moments_loses_nothing_and_realerts_nothing(
    make_rig: MakeRig,
) -> None:
    """Eight SIGKILLs at seeded moments: all told, duplicates by id only, nothing alerted twice."""
    rig = await make_rig(accounts=150, seed=13, start=False)
    rng = random.Random(1309)
    churners = list(rig.fleet.ids())[:60]
    rig.world.begin()
    await rig.h.start()
    await rig.h.wait_ready()
    for round_ in range(ROUNDS):
        rig.world.flip(churners, 4)
        await kill_at(rig, MOMENTS[round_ % len(MOMENTS)], rng)
        rig.faults.clear()
        if not rig.sink.listening:
            await rig.sink.up()
        await rig.h.start()
        await rig.h.wait_ready()
    got = await rig.settle(timeout=60)
    code, _ = await rig.h.stop()

    assert code == 0, rig.h.stderr_tail()
    rig.assert_faithful(got)
    assert got.duplicates >= 1, "a delivery cut off by the kill should have come again"
    assert rig.h.runs == ROUNDS + 1
    print(f"events {len(got.events)}, duplicate copies {got.duplicates}")
