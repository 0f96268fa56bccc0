"""Stores that close themselves, for the state-store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.store.sqlite import SQLiteStore

from .store_data import OpenStore


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "monitor.db"


@pytest.fixture
async def open_store(state_path: Path) -> AsyncIterator[OpenStore]:
    """Open stores (by default on `state_path`); every one still open is closed afterwards."""
    opened: list[SQLiteStore] = []

    async def open_(path: Path | None = None) -> SQLiteStore:
        store = await SQLiteStore.open(path or state_path)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()
