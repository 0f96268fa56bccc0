"""Schema versions: a version-1 file opens forever; each step is applied whole or not at all."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.model import IssueKey, IssueKind, PollKind
from monitor.store import StoreError
from monitor.store.migrations import (
    APPLICATION_ID,
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    migrate,
    schema_version,
    statements,
)
from monitor.store.sqlite import SQLiteStore

from .store_data import T0, OpenStore, account, issue

V1_FIXTURE = Path(__file__).parent / "fixtures" / "state-v1.sql"

# A made-up next version, to prove the runner on a real version-1 file.
NEXT = Migration(
    LATEST_VERSION + 1,
    """
    -- a comment with a ; in it
    CREATE TABLE deliveries (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
    ALTER TABLE polls ADD COLUMN pages INTEGER NOT NULL DEFAULT 0;
    """,
)


def write_v1_file(path: Path) -> None:
    """The frozen version-1 fixture as a database file, as release 0.1.0 left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as con:
        con.executescript(V1_FIXTURE.read_text("utf-8"))


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_version_1_file_opens_and_keeps_its_state(
    open_store: OpenStore, state_path: Path
) -> None:
    """A state file of the first schema version is migrated to the latest and read whole."""
    write_v1_file(state_path)
    store = await open_store()
    state = await store.load("default")
    assert state.accounts[1] == account(1)
    assert state.accounts[2].warmup is None and state.accounts[2].is_smtp_success is False
    assert state.issues[IssueKey("default", 2, IssueKind.SMTP_FAILED)] == issue(2)
    assert not state.issues[IssueKey("default", None, IssueKind.API_UNAVAILABLE)].firing
    assert set(state.polls) == {PollKind.FAILURE, PollKind.INVENTORY}
    assert (await store.load("other")).accounts[1].email == "other@client.example"
    assert await store.pending_counts() == {"slack": 1, "webhook": 1}
    assert await store.due_messages("slack", T0, 10) == []  # its retry is still pending
    (slack,) = await store.due_messages("slack", T0 + timedelta(minutes=2), 10)
    assert (slack.attempts, slack.last_error) == (2, "HTTP 429")
    (webhook,) = await store.due_messages("webhook", T0, 10)
    assert [e.status for e in webhook.events] == ["firing", "resolved"]
    with closing(connect(state_path)) as con:
        assert schema_version(con) == LATEST_VERSION


def test_migrating_a_version_1_file_forward_keeps_its_rows(state_path: Path) -> None:
    """A later step runs on a real version-1 file, keeps every row and runs only once."""
    write_v1_file(state_path)
    with closing(connect(state_path)) as con:
        assert migrate(con, (*MIGRATIONS, NEXT)) == NEXT.version
        assert migrate(con, (*MIGRATIONS, NEXT)) == NEXT.version  # nothing left to apply
        assert con.execute("SELECT count(*), sum(pages) FROM polls").fetchone() == (3, 0)
        assert con.execute("SELECT count(*) FROM accounts").fetchone() == (3,)
        assert con.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


def test_failing_migration_leaves_the_previous_version_whole(state_path: Path) -> None:
    """A step that fails half-way is rolled back: version, tables and rows as before."""
    write_v1_file(state_path)
    broken = Migration(
        LATEST_VERSION + 1,
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);",
    )
    with closing(connect(state_path)) as con:
        with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
            migrate(con, (*MIGRATIONS, broken))
        assert schema_version(con) == LATEST_VERSION
        tables = {name for (name,) in con.execute("SELECT name FROM sqlite_master")}
        assert "deliveries" not in tables and not con.in_transaction


async def test_file_migrated_by_a_newer_release_is_refused(
    open_store: OpenStore, state_path: Path
) -> None:
    """After a newer release migrated the file, this release refuses it instead of guessing."""
    write_v1_file(state_path)
    with closing(connect(state_path)) as con:
        migrate(con, (*MIGRATIONS, NEXT))
    with pytest.raises(StoreError, match="newer than this release knows"):
        await SQLiteStore.open(state_path)


def test_new_file_gets_every_migration(tmp_path: Path) -> None:
    """A blank database is brought to the latest version and marked as ours."""
    with closing(connect(tmp_path / "new.db")) as con:
        assert migrate(con) == LATEST_VERSION
        assert con.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)


def test_versions_are_ordered_and_scripts_complete() -> None:
    """Migrations run in strictly increasing versions from 1, each a list of whole statements."""
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    for step in MIGRATIONS:
        assert all(sqlite3.complete_statement(s) for s in statements(step.sql))
    with pytest.raises(ValueError, match="incomplete statement"):
        list(statements("CREATE TABLE t (x);\nCREATE TABLE u (y"))
