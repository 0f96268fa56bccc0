"""The e2e harness (simulator, real daemon process) with a lagging sink and a recorded world.

`open_rig` wraps `e2e.harness.open_harness`: the daemon's webhook notifier posts to a
`LaggingSink` instead of the harness's plain sink, every fleet change goes through `World`,
and polls run every 0.3 s so a scenario spans dozens of cycles in seconds.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.harness import (
    QUIET_FLEET,
    WEBHOOK_PATH,
    Harness,
    deep_merge,
    open_harness,
    webhook_notifier,
)

from monitor.smartlead.simulator import Faults, Fleet, InitialMix

from .receiver import LaggingSink
from .world import Heard, Key, World, false_or_repeated, heard, missed

POLLING: dict[str, Any] = {
    "failure_interval": 0.3,
    "inventory_interval": 1.0,
    "retry": {"max_retries": 2, "initial_backoff": 0.05, "max_backoff": 0.2, "timeout": 5.0},
}


@dataclass
class Rig:
    """One scenario's moving parts: `h` (the harness and its daemon), `sink`, `world`."""

    h: Harness
    sink: LaggingSink
    world: World
    webhook_path: str = WEBHOOK_PATH  # where the webhook notifier posts on the sink

    @property
    def fleet(self) -> Fleet:
        return self.h.fleet

    @property
    def faults(self) -> Faults:
        return self.h.simulator.faults

    def heard(self) -> Heard:
        return heard(self.sink.webhook_events(self.webhook_path))

    async def open_issues(self) -> set[Key]:
        return await self.h.open_issues()

    async def outbox_total(self) -> int:
        status = await self.h.get_json("/api/v1/status")
        return int(status["outbox"]["total"])

    async def settle(self, timeout: float = 30.0) -> Heard:  # noqa: ASYNC109 (a deadline)
        """Wait until the outbox is empty and the daemon and the receiver agree with the fleet."""

        async def done() -> bool:
            if await self.outbox_total():
                return False
            return not missed(self.heard(), self.world, await self.open_issues())

        try:
            await self.h.wait_until(done, timeout, "daemon and receiver agree with the fleet")
        except AssertionError as error:
            problems = missed(self.heard(), self.world, await self.open_issues())
            raise AssertionError(f"{error}\n" + "\n".join(problems[:20])) from None
        return self.heard()

    def assert_faithful(self, got: Heard) -> None:
        """Nothing false and nothing repeated (see `world.false_or_repeated`)."""
        problems = false_or_repeated(got, self.world)
        assert not problems, "\n".join(problems[:20])

    def workspace_events(self, got: Heard) -> list[tuple[str, str]]:
        """(kind, status) of every workspace-level event, in order."""
        return [(str(e["kind"]), str(e["status"])) for e in got.events if e["account"] is None]


@asynccontextmanager
async def open_rig(
    workdir: Path,
    *,
    accounts: int = 200,
    seed: int = 11,
    initial: InitialMix = QUIET_FLEET,
    overrides: Mapping[str, Any] | None = None,
    notifiers: Sequence[Mapping[str, Any]] | None = None,
    api_key: str | None = None,
    start: bool = True,
) -> AsyncIterator[Rig]:
    """A running rig. `notifiers` may use `{sink}` for the lagging sink's base URL (default:
    one webhook to `{sink}/webhook`); `api_key` replaces the harness's key on both sides."""
    fleet = Fleet(accounts, seed=seed, initial=initial)
    lagging = LaggingSink()
    async with lagging:
        chosen = notifiers or [webhook_notifier("{sink}" + WEBHOOK_PATH)]
        resolved = [
            {k: v.replace("{sink}", lagging.url) if isinstance(v, str) else v for k, v in n.items()}
            for n in chosen
        ]
        config = deep_merge({"polling": POLLING}, overrides or {})
        async with open_harness(
            workdir, fleet=fleet, notifiers=resolved, overrides=config, start=False
        ) as harness:
            harness.sink = lagging
            if api_key is not None:
                harness.simulator.api_key = api_key
                harness.config["workspaces"][0]["api_key"] = api_key
                harness.write_config()
            rig = Rig(harness, lagging, World(fleet, random.Random(seed)))
            if start:
                await harness.start()
            yield rig
