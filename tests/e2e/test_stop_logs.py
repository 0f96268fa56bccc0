"""A clean stop is quiet: abandoning an in-flight poll on SIGTERM logs no error."""

from __future__ import annotations

from .conftest import MakeHarness


async def test_stop_mid_poll_logs_no_error(make_harness: MakeHarness) -> None:
    """SIGTERM while a poll hangs on the API exits 0 and logs no error, only the abandon."""
    polling = {"failure_interval": 0.5, "inventory_interval": 1.5, "retry": {"timeout": 60}}
    harness = await make_harness(overrides={"polling": polling})
    await harness.wait_ready()
    hang = harness.simulator.faults.delay(60, route="list", times=None)
    await harness.wait_until(lambda: hang.hits >= 1, 10, "a poll hanging on the API")
    code, _ = await harness.stop()
    assert code == 0
    logs = harness.logs()
    assert [line for line in logs if line["level"] in ("error", "critical")] == []
    assert any(line["event"] == "cycle_abandoned" for line in logs)
