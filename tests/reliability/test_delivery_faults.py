"""A receiver that is down, failing, too slow or slow: every event arrives at least once, a
duplicate is only ever a second copy of the same event id, and no issue is alerted twice
(contract §6: durable outbox, at-least-once, stable ids reused on retry, in order)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from notify.sink import Reply

from .conftest import MakeRig
from .rig import Rig

pytestmark = pytest.mark.e2e

NOTIFIER_TIMEOUT = 10.0  # seconds; the HTTP notifiers' timeout (notify/factory.py); aiohttp
# rounds deadlines over 5 s up to a whole second, so a reply 2 s later surely times out


async def churn_for(rig: Rig, churners: list[int], cycles: int) -> None:
    """Change the fleet once per poll cycle, `cycles` times."""
    for _ in range(cycles):
        rig.world.flip(churners, 2)
        await asyncio.sleep(0.3)


async def test_receiver_faults_lose_nothing_and_repeat_nothing(make_rig: MakeRig) -> None:
    """A down, failing, timing-out, slow receiver: all told, duplicates by id only, no re-alert."""
    rig = await make_rig(accounts=150, seed=8, start=False)
    churners = list(rig.fleet.ids())[:60]
    rig.world.begin()
    await rig.h.start()
    await rig.h.wait_ready()

    await rig.sink.down()  # connections refused for ~3 s, about ten failure polls
    await churn_for(rig, churners, 10)
    await rig.sink.up()

    answered = len(rig.sink.received)
    errors = [Reply(500), Reply(429, headers={"Retry-After": "1"}), Reply(503), Reply(502)]
    for error in errors:  # each one fails a different message once
        rig.sink.script(error, Reply(200))
    await churn_for(rig, churners, 4)
    await rig.sink.wait_for(lambda got: len(got) >= answered + 2 * len(errors), within=30)

    arrivals = rig.sink.arrivals
    rig.sink.lag_next(NOTIFIER_TIMEOUT + 2, 1.0, 1.0, 1.0)  # a timeout, then slow answers
    await churn_for(rig, churners, 2)
    await rig.h.wait_until(lambda: rig.sink.arrivals > arrivals, 15, "a delivery to hold")
    await churn_for(rig, churners, 8)
    got = await rig.settle(timeout=60)

    rig.assert_faithful(got)
    assert got.duplicates >= 1, "the timed-out delivery should have arrived twice"
    refused = {r.status for r in rig.sink.received} - {200}
    assert refused == {500, 429, 503, 502}, refused
    by_message: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for request in rig.sink.accepted():
        events = tuple(e["id"] for e in request.json()["data"]["events"])
        by_message[request.headers["webhook-id"]].add(events)
    assert all(len(bodies) == 1 for bodies in by_message.values()), "a message id changed"
    logs = rig.h.logs()
    retried = [r for r in logs if r.get("event") == "notification failed; will retry"]
    causes = {str(r["error"]).split(" posting")[0].split(" from")[0] for r in retried}
    expected = {"ClientConnectorError", "timeout after 10s", *(f"HTTP {e.status}" for e in errors)}
    assert expected <= causes, causes
    assert not [r for r in logs if "dropped" in str(r.get("event"))]
    print(
        f"events {len(got.events)}, copies {sum(got.copies.values())}, "
        f"retries {len(retried)}, messages {len(by_message)}"
    )
