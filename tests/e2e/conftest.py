"""Fixtures for end-to-end tests: harnesses that always kill their daemon at teardown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest

from .harness import Harness, open_harness


class MakeHarness(Protocol):
    async def __call__(self, **options: Any) -> Harness: ...


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    """Start simulator + sink + daemon with `open_harness` options; each in its own folder."""
    async with AsyncExitStack() as stack:
        count = 0

        async def make(**options: Any) -> Harness:
            nonlocal count
            count += 1
            workdir = tmp_path / f"h{count}"
            workdir.mkdir()
            return await stack.enter_async_context(open_harness(workdir, **options))

        yield make
