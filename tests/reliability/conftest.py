"""Fixtures for the fault-injection suite, and the `--run-soak` switch for `make soak`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import pytest

from .rig import Rig, open_rig


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-soak",
        action="store_true",
        default=False,
        help="run the soak tests (minutes long; `make soak`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: minutes-long run; needs --run-soak (make soak)")


FIGURES = pytest.StashKey[list[str]]()  # reports a test wants shown after the run


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Show the figures tests recorded (the soak's), even when output is captured."""
    for report in config.stash.get(FIGURES, []):
        terminalreporter.write_sep("-", "figures")
        terminalreporter.write_line(report)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-soak", default=False):
        return
    skip = pytest.mark.skip(reason="soak test: run it with `make soak` (pytest --run-soak)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


class MakeRig(Protocol):
    async def __call__(self, **options: Any) -> Rig: ...


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> list[str]:
    """Append text here to have it printed in the terminal summary of the run."""
    return request.config.stash.setdefault(FIGURES, [])


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    """Start simulator, lagging sink and daemon with `open_rig` options; all stopped after."""
    async with AsyncExitStack() as stack:
        count = 0

        async def make(**options: Any) -> Rig:
            nonlocal count
            count += 1
            workdir = tmp_path / f"rig{count}"
            workdir.mkdir()
            return await stack.enter_async_context(open_rig(workdir, **options))

        yield make
