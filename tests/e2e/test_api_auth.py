"""Issue 3 end to end: a revoked API key, as the real daemon sees it (401 on every request)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import MakeHarness
from .harness import Harness

pytestmark = pytest.mark.e2e

QUICK = {"polling": {"failure_interval": 0.5, "inventory_interval": 1.5}}
AUTH = (None, "api_auth_failed")


def count(h: Harness, kind: str, status: str) -> int:
    return sum(1 for e in h.events() if e["kind"] == kind and e["status"] == status)


async def readyz(h: Harness) -> tuple[int, Any]:
    return await h.get("/readyz")


async def test_a_revoked_key_fires_one_api_auth_failed_and_fails_readiness(
    make_harness: MakeHarness,
) -> None:
    """401s: one api_auth_failed event and /readyz 503; account issues stay; restoring resolves."""
    h = await make_harness(overrides=QUICK)
    broken = h.fleet.ids()[7]
    h.fleet.set_smtp(broken, ok=False)
    await h.wait_ready()
    await h.wait_until(lambda: count(h, "smtp_failed", "firing") == 1, 10, "smtp event")

    h.simulator.revoke_key()
    await h.wait_until(lambda: count(h, "api_auth_failed", "firing") == 1, 10, "auth event")
    _, body = await h.wait_until(
        lambda: _status_is(readyz(h), 503), 10, "/readyz 503 once the last good poll is stale"
    )
    assert body["status"] == "not_ready"
    assert [stale["workspace"] for stale in body["stale"]] == ["default"]
    assert "401" in str(body["stale"][0]["last_error"])
    assert body["stale"][0]["age_seconds"] > body["max_age_seconds"] == 3 * 0.5

    await h.wait_polls(failure=3, inventory=1, outcome="failed")
    await h.wait_outbox_empty()
    assert count(h, "api_auth_failed", "firing") == 1
    assert count(h, "api_unavailable", "firing") == 0  # a 401 is not an outage
    assert [e for e in h.events() if e["status"] == "resolved"] == []
    assert await h.open_issues() == {(broken, "smtp_failed"), AUTH}
    auth_event = next(e for e in h.events() if e["kind"] == "api_auth_failed")
    assert auth_event["account"] is None

    h.simulator.restore_key()
    await h.wait_until(lambda: count(h, "api_auth_failed", "resolved") == 1, 10, "auth resolved")
    await h.wait_ready()
    await h.wait_polls(failure=2, inventory=1, outcome="ok")
    await h.wait_outbox_empty()
    assert count(h, "api_auth_failed", "resolved") == 1
    assert count(h, "api_auth_failed", "firing") == 1
    assert await h.open_issues() == {(broken, "smtp_failed")}


async def test_a_key_revoked_before_start_is_never_ready(make_harness: MakeHarness) -> None:
    """Without any good failure poll /readyz is 503 from the first answer, with api_auth_failed."""
    h = await make_harness(overrides=QUICK, start=False)
    h.simulator.revoke_key()
    await h.start()
    status, body = await h.wait_until(
        lambda: _status_is(readyz(h), 0, negate=True), 20, "the HTTP server answering"
    )
    assert status == 503, body
    await h.wait_until(lambda: count(h, "api_auth_failed", "firing") == 1, 10, "auth event")
    status, body = await readyz(h)
    assert status == 503
    assert body["stale"][0]["last_success_at"] is None
    assert await h.open_issues() == {AUTH}


async def _status_is(answer: Any, status: int, *, negate: bool = False) -> tuple[int, Any] | None:
    """The (status, body) of an awaited GET when its status is (or, negated, is not) `status`."""
    got: tuple[int, Any] = await answer
    return got if (got[0] == status) != negate else None
