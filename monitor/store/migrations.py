"""Versions of the SQLite schema and the steps between them.

The file says what it is with `PRAGMA application_id` and how new its schema is with
`PRAGMA user_version`; each migration runs in its own transaction, so a crash mid-way leaves
the previous version intact and the next start simply tries again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from monitor.store import account_fields

# "SLMN": marks a file as a smartlead-monitor state file (sqlite3 `file` shows it too).
APPLICATION_ID = 0x534C4D4E


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # user_version after this step
    sql: str  # statements separated by semicolons
    # SQL functions the statements call, for data SQL alone cannot rewrite
    functions: Mapping[str, Callable[..., bytes]] = field(default_factory=dict)


def _schema(name: str) -> str:
    return resources.files("monitor.store").joinpath("schema", name).read_text("utf-8")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, _schema("v1.sql")),
    Migration(2, _schema("v2.sql"), {"account_fields_v2": account_fields.from_version_1}),
)
LATEST_VERSION = MIGRATIONS[-1].version


def statements(sql: str) -> Iterator[str]:
    """Split a script into complete statements (`executescript` would commit our transaction)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip() and not _only_comments(pending):
        raise ValueError("migration script ends with an incomplete statement")


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def schema_version(con: sqlite3.Connection) -> int:
    version: int = con.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(con: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every pending migration in order and return the version reached.

    When nothing is pending it still writes the version back in a transaction: that write is
    the proof, at start-up, that the file and its folder are writable. The connection must be
    in autocommit mode (`isolation_level=None`).
    """
    pending = [m for m in migrations if m.version > schema_version(con)]
    steps: list[Migration | None] = [*pending] if pending else [None]
    for step in steps:
        con.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(con)  # re-read under the write lock
            if step is not None and step.version > current:
                for name, function in step.functions.items():
                    con.create_function(name, -1, function, deterministic=True)
                for statement in statements(step.sql):
                    con.execute(statement)
                current = step.version
            con.execute(f"PRAGMA application_id = {int(APPLICATION_ID)}")
            con.execute(f"PRAGMA user_version = {int(current)}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return schema_version(con)
