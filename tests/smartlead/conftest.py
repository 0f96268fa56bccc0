"""Fixtures for the SmartLead boundary: a simulator on loopback, a real client, fake time."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
import structlog
from structlog.testing import capture_logs
from structlog.typing import EventDict

from monitor.config import RetrySettings
from monitor.smartlead.client import SmartLeadClient
from monitor.smartlead.simulator import Fleet, Simulator, run_simulator

API_KEY = "sk-test-KEY-4d1c9e"


class FakeTime:
    """A monotonic clock and a wall clock that move only when the code under test sleeps."""

    def __init__(self, start: float = 1000.0, wall_start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._wall_offset = wall_start - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


StartSimulator = Callable[..., Awaitable[Simulator]]
MakeClient = Callable[..., SmartLeadClient]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Start simulators on 127.0.0.1 (any free port); all are stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(fleet: Fleet | None = None, **options: Any) -> Simulator:
            options.setdefault("api_key", API_KEY)
            fleet = fleet if fleet is not None else Fleet(550, seed=3)
            return await stack.enter_async_context(run_simulator(fleet, **options))

        yield start


@pytest.fixture
def make_client(session: aiohttp.ClientSession, fake_time: FakeTime) -> MakeClient:
    """A real client on fake time: rate limit waits and backoff pass instantly."""

    def make(base_url: str, **options: Any) -> SmartLeadClient:
        settings: dict[str, Any] = {
            "workspace": "acme",
            "api_key": API_KEY,
            "base_url": base_url,
            "rate_limit": 1000.0,
            "burst": 10,
            "retry": RetrySettings(timeout=5.0),
            "sleep": fake_time.sleep,
            "clock": fake_time.monotonic,
            "wall_clock": fake_time.wall,
            "rng": random.Random(7),
        }
        settings.update(options)
        return SmartLeadClient(session, **settings)

    return make


@pytest.fixture
def logs() -> Iterator[list[EventDict]]:
    """Every structlog event, debug included, whatever level another test configured."""
    previous = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as entries:
            yield entries
    finally:
        structlog.configure(wrapper_class=previous)
