"""The engine's sequencing: two polls of one workspace that overlap stay truthful."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.config import Settings
from monitor.core.model import IssueKey, IssueKind, PollKind
from monitor.daemon import open_monitor
from monitor.smartlead.simulator import Fleet, InitialMix, run_simulator

QUIET = InitialMix(0.0, 0.0, 0.0, 0.0)


async def test_an_overtaken_inventory_cannot_undo_a_newer_failure_poll(tmp_path: Path) -> None:
    """An inventory that read a mailbox as healthy, then was overtaken, cannot resolve it."""
    fleet = Fleet(150, seed=3, initial=QUIET)
    target = fleet.ids()[0]  # on the first page: read before the slow second page
    async with run_simulator(fleet, api_key="demo") as simulator:
        settings = Settings.model_validate(
            {
                "workspaces": [
                    {"name": "w", "api_key": "demo", "base_url": simulator.url, "rate_limit": 500}
                ],
                "state": {"path": str(tmp_path / "state.db")},
            }
        )
        async with open_monitor(settings) as monitor:
            engine = monitor.engine
            slow_page = simulator.faults.delay(1.0, offset=100)  # only the inventory pages
            inventory = asyncio.create_task(engine.cycle("w", PollKind.INVENTORY))
            async with asyncio.timeout(10):
                # The simulator only counts hits; the first page (the healthy row) is read then.
                while slow_page.hits < 1:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            fleet.set_smtp(target, ok=False, error="535 Authentication failed")
            await engine.cycle("w", PollKind.FAILURE)
            key = IssueKey("w", target, IssueKind.SMTP_FAILED)
            assert engine.states["w"].issues[key].firing
            await inventory
            assert engine.states["w"].issues[key].firing  # its old healthy row said nothing
            assert (await monitor.engine.store.load("w")).issues[key].firing
