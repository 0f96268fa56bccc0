"""An unusable state file or folder stops `run` at start with one clear line and exit code 2,
and the file is left exactly as it was (contract §2; the operator moves it away and retries)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from store.test_store_files import folder_bytes, unwritable

from .conftest import MakeRig
from .rig import Rig

pytestmark = pytest.mark.e2e

PREFIX = "smartlead-monitor: cannot start: "


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def damaged_pages(path: Path) -> None:
    """A real state file (left by `once`) with garbage written over some of its pages."""
    with path.open("r+b") as file:
        file.seek(2 * 4096)
        file.write(b"\xff\x00garbage" * 400)


def foreign_database(path: Path) -> None:
    path.unlink()
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
        con.commit()


def newer_schema(path: Path) -> None:
    with closing(sqlite3.connect(path)) as con:
        con.execute("PRAGMA user_version = 999")
        con.commit()


def operator_lines(stderr: str) -> list[str]:
    """What stderr says to a person: every non-empty line that is not a JSON log record."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


async def run_refused(rig: Rig) -> list[str]:
    """`run` must exit 2 at once with no traceback; returns its message lines."""
    done = await rig.h.cli("run", timeout=20)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return operator_lines(done.stderr)


@pytest.mark.parametrize(
    "spoil",
    [random_bytes, damaged_pages, foreign_database, newer_schema],
    ids=["random-bytes", "damaged-pages", "foreign-database", "newer-schema"],
)
async def test_unusable_state_file_stops_run_with_one_line_and_untouched_file(
    make_rig: MakeRig, spoil: Callable[[Path], None]
) -> None:
    """A bad state file: exit 2, one line naming it, no traceback, not one byte of it changed."""
    rig = await make_rig(accounts=250, start=False)
    assert (await rig.h.once()).returncode == 0  # a real state file first
    spoil(rig.h.state_path)
    before = folder_bytes(rig.h.state_path.parent)
    lines = await run_refused(rig)
    assert len(lines) == 1 and lines[0].startswith(PREFIX), lines
    assert str(rig.h.state_path) in lines[0]
    assert folder_bytes(rig.h.state_path.parent) == before


@pytest.mark.parametrize("with_state", [False, True], ids=["new-file", "existing-file"])
async def test_read_only_state_folder_stops_run_at_start(
    make_rig: MakeRig, with_state: bool
) -> None:
    """A read-only state folder is one line and exit 2 at start, not at the first commit."""
    rig = await make_rig(start=False)
    folder = rig.h.state_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    if with_state:
        assert (await rig.h.once()).returncode == 0
    before = folder_bytes(folder)
    with unwritable(folder):  # chattr +i as root
        lines = await run_refused(rig)
    assert len(lines) == 1 and lines[0].startswith(PREFIX), lines
    assert str(rig.h.state_path) in lines[0] and "writable" in lines[0]
    assert folder_bytes(folder) == before
