"""Opening the state file: created when missing, refused untouched when it is not ours."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from monitor.core.model import PollKind
from monitor.store import StoreError
from monitor.store.migrations import APPLICATION_ID, LATEST_VERSION
from monitor.store.sqlite import SQLiteStore

from .store_data import T0, OpenStore, account, cycle, issue, message, poll_status


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a folder with its bytes: nothing may be added, changed or removed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def place(path: Path, content: bytes | None) -> None:
    """Put a file (None: a folder) at `path`, creating its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)


def make_sqlite(path: Path, *statements: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as con:
        for statement in statements:
            con.execute(statement)
        con.commit()


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make a file or folder unwritable, for root too (chattr +i) or by mode bits."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: nothing here can make a path unwritable")
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i fails here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


async def test_missing_folders_are_created(open_store: OpenStore, tmp_path: Path) -> None:
    """A state path under folders that do not exist yet opens, and the file is ours."""
    path = tmp_path / "a" / "b" / "c" / "monitor.db"
    await open_store(path)
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert con.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_everything_survives_close_and_reopen(open_store: OpenStore) -> None:
    """A new store on the same file sees every account, issue, poll and message."""
    store = await open_store()
    polls = [poll_status(), poll_status(poll=PollKind.INVENTORY, ok=False, error="HTTP 502")]
    await store.commit(cycle(poll_status=polls[0], issues_upserted=[issue(1)]))
    await store.commit(
        cycle(
            poll_status=polls[1],
            accounts_upserted=[account(1), account(2, warmup=None)],
            outbox=[message("m1")],
        )
    )
    state = await store.load("default")
    await store.close()

    reopened = await open_store()
    assert await reopened.load("default") == state
    assert state.polls == {p.poll: p for p in polls} and len(state.accounts) == 2
    assert await reopened.issues() == [issue(1)]
    assert await reopened.due_messages("slack", T0, 10) == [message("m1")]


async def test_second_store_on_the_same_file_sees_commits(open_store: OpenStore) -> None:
    """`status` can open the file while the daemon holds it, and reads committed state."""
    daemon = await open_store()
    await daemon.commit(cycle(issues_upserted=[issue(1)]))
    status = await open_store()
    assert await status.issues() == [issue(1)]


async def test_empty_file_is_initialised(open_store: OpenStore, state_path: Path) -> None:
    """A zero-byte file (touched, or cut short before the first write) becomes a state file."""
    place(state_path, b"")
    store = await open_store()
    await store.commit(cycle(accounts_upserted=[account(1)]))
    assert (await store.load("default")).accounts == {1: account(1)}


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(8192),
        b"SQLite format 3",  # shorter than a header
        b"accounts:\n  - id: 1\n" * 100,
    ],
    ids=["random", "truncated-header", "text"],
)
async def test_file_that_is_not_sqlite_is_refused_untouched(
    state_path: Path, content: bytes
) -> None:
    """Random bytes or text at the state path give StoreError naming it, bytes unchanged."""
    place(state_path, content)
    before = folder_bytes(state_path.parent)
    with pytest.raises(StoreError, match="is not a SQLite database") as raised:
        await SQLiteStore.open(state_path)
    assert str(state_path) in str(raised.value)
    assert folder_bytes(state_path.parent) == before


async def test_damaged_state_file_is_refused_untouched(
    open_store: OpenStore, state_path: Path
) -> None:
    """A state file with garbage in its pages is refused at open, not half-way through a cycle."""
    store = await open_store()
    await store.commit(cycle(accounts_upserted=[account(i) for i in range(2000)]))
    await store.close()
    with state_path.open("r+b") as file:
        file.seek(3 * 4096)
        file.write(b"\xff\x00garbage" * 400)
    before = folder_bytes(state_path.parent)
    with pytest.raises(StoreError, match="damaged") as raised:
        await SQLiteStore.open(state_path)
    assert str(state_path) in str(raised.value)
    assert folder_bytes(state_path.parent) == before


@pytest.mark.parametrize(
    ("statements", "says"),
    [
        (["CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)"], "tables: invoices"),
        (["PRAGMA application_id = 42"], "application_id 42"),
        (
            [f"PRAGMA application_id = {APPLICATION_ID + 1}", "CREATE TABLE accounts (x)"],
            "another application",
        ),
        (["PRAGMA user_version = 3", "CREATE TABLE accounts (x)"], "another application"),
        (["PRAGMA journal_mode = WAL", "CREATE TABLE t (x)"], "tables: t"),
    ],
    ids=["foreign-tables", "foreign-id", "near-miss-id", "no-id", "foreign-wal"],
)
async def test_foreign_sqlite_file_is_refused_untouched(
    state_path: Path, statements: list[str], says: str
) -> None:
    """A SQLite file of another application gives StoreError and is never modified."""
    make_sqlite(state_path, *statements)
    before = folder_bytes(state_path.parent)
    with pytest.raises(StoreError, match="another application") as raised:
        await SQLiteStore.open(state_path)
    assert says in str(raised.value) and str(state_path) in str(raised.value)
    assert folder_bytes(state_path.parent) == before


async def test_newer_schema_is_refused_untouched(open_store: OpenStore, state_path: Path) -> None:
    """A state file written by a newer release is refused, never downgraded or rewritten."""
    await (await open_store()).close()
    make_sqlite(state_path, f"PRAGMA user_version = {LATEST_VERSION + 1}")
    before = folder_bytes(state_path.parent)
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}, newer"):
        await SQLiteStore.open(state_path)
    assert folder_bytes(state_path.parent) == before


async def test_path_that_is_a_folder_is_refused(state_path: Path) -> None:
    """A folder at the state path is a clear error, not a crash."""
    place(state_path, None)
    with pytest.raises(StoreError, match="is not a regular file"):
        await SQLiteStore.open(state_path)


async def test_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    """When a parent of the state path is a file, the error says the folder cannot be made."""
    place(tmp_path / "data", b"not a folder")
    with pytest.raises(StoreError, match="cannot create its folder"):
        await SQLiteStore.open(tmp_path / "data" / "monitor.db")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux only")
async def test_folder_where_no_file_can_be_created_is_refused() -> None:
    """/proc takes no new files, even from root: StoreError at open, naming the path."""
    with pytest.raises(StoreError, match="must be writable") as raised:
        await SQLiteStore.open("/proc/smartlead-monitor-state.db")
    assert "/proc/smartlead-monitor-state.db" in str(raised.value)


async def test_read_only_folder_is_refused_at_open(state_path: Path) -> None:
    """A new state file in a read-only folder fails at open, not at the first commit."""
    place(state_path.parent, None)
    with unwritable(state_path.parent), pytest.raises(StoreError, match="must be writable"):
        await SQLiteStore.open(state_path)


async def test_read_only_folder_with_state_is_refused_at_open(
    open_store: OpenStore, state_path: Path
) -> None:
    """An existing state file in a folder that became read-only fails at open."""
    await (await open_store()).close()
    with unwritable(state_path.parent), pytest.raises(StoreError, match=str(state_path)):
        await SQLiteStore.open(state_path)


async def test_unwritable_state_file_is_refused_at_open(
    open_store: OpenStore, state_path: Path
) -> None:
    """A state file that can be read but not written fails at open, not at the first commit."""
    await (await open_store()).close()
    with unwritable(state_path), pytest.raises(StoreError, match="must be writable"):
        await SQLiteStore.open(state_path)


async def test_closed_store_refuses_calls_and_stops_its_thread(open_store: OpenStore) -> None:
    """After close every call raises StoreError, close is idempotent, the worker is gone."""
    store = await open_store()
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="after close"):
        await store.load("default")
    with pytest.raises(StoreError, match="after close"):
        await store.commit(cycle())
    assert not [t for t in threading.enumerate() if t.name.startswith("state-store")]
