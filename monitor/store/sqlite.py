"""The state store on SQLite: one file, one connection, one worker thread.

Every call runs on a single dedicated thread, so the event loop never waits on the disk and
two transactions never interleave. A cancelled call does not cancel its transaction: the
worker finishes it (commit or rollback), so state is never half-written.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from monitor.core.model import (
    AccountRef,
    Issue,
    IssueKey,
    IssueKind,
    PollKind,
    event_from_dict,
    event_to_dict,
)
from monitor.smartlead.models import Account
from monitor.store import (
    Cycle,
    OutboxMessage,
    PollStatus,
    Store,
    StoreError,
    WorkspaceState,
    account_fields,
)
from monitor.store.migrations import APPLICATION_ID, LATEST_VERSION, migrate, schema_version

T = TypeVar("T")

BUSY_TIMEOUT = 5.0  # seconds to wait for another process holding the lock (`status` command)
# Page cache. A commit touches a few pages per changed account, and the snapshot is read
# only at start-up: a bigger cache (16 MiB, then 4) kept a copy of the file in RSS, ~100 B
# per account at 10,000, for no measurable gain in commit CPU (bench/store.py).
CACHE_KIB = 1024
WAL_KEEP_BYTES = 8 * 1024 * 1024  # the WAL shrinks back to this after a big inventory commit
SQLITE_MAGIC = b"SQLite format 3\x00"
WORKSPACE_LEVEL = -1  # account_id column of workspace-level issues (ids are never negative)
ACCOUNT_BATCH = 100  # rows per snapshot INSERT (201 parameters; SQLite allows 999 or more)
MAX_REASON = 300  # characters of a driver error kept in a StoreError
MAX_LAST_ERROR = 1000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_JSON = msgspec.json.Encoder()  # issue details and outbox events: ~5x json.dumps at 10,000 issues


class SQLiteStore:
    """`Store` on a local SQLite file in WAL mode; open it with `await SQLiteStore.open(path)`."""

    def __init__(self, path: Path, worker: ThreadPoolExecutor, con: sqlite3.Connection) -> None:
        self.path = path
        self._worker = worker
        self._con: sqlite3.Connection | None = con
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteStore:
        """Open or create the state file; refuse, untouched, any file that is not ours."""
        path = Path(path)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-store")
        opening = worker.submit(_open, path)
        try:
            con = await asyncio.wrap_future(opening)
        except BaseException:  # failed, or cancelled while the worker was still opening
            worker.submit(_close_opened, opening)
            worker.shutdown(wait=False)
            raise
        return cls(path, worker, con)

    async def load(self, workspace: str) -> WorkspaceState:
        return await self._run("load", _load, workspace)

    async def commit(self, cycle: Cycle) -> None:
        await self._run("commit", _commit, cycle)

    async def issues(self) -> list[Issue]:
        return await self._run("reading issues", _all_issues)

    async def due_messages(self, notifier: str, now: datetime, limit: int) -> list[OutboxMessage]:
        return await self._run("reading the outbox", _due_messages, notifier, now, limit)

    async def mark_delivered(self, message_id: str) -> None:
        await self._run("mark_delivered", _write, _DELETE_MESSAGE, (message_id,))

    async def mark_failed(
        self, message_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        await self._run("mark_failed", _mark_failed, message_id, attempts, next_attempt_at, error)

    async def drop(self, message_id: str) -> None:
        await self._run("drop", _write, _DELETE_MESSAGE, (message_id,))

    async def pending_counts(self) -> dict[str, int]:
        return await self._run("counting the outbox", _pending_counts)

    async def close(self) -> None:
        """Close the connection, then the worker thread; later calls raise StoreError."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._close)
        finally:
            self._worker.shutdown(wait=True)

    async def _run(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError(f"state store {self.path}: {what} after close")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._guarded, what, fn, args)

    def _guarded(self, what: str, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        con = self._con
        if con is None:
            raise StoreError(f"state store {self.path}: {what} after close")
        try:
            return fn(con, *args)
        except Exception as exc:
            raise StoreError(f"state store {self.path}: {what} failed: {_reason(exc)}") from exc

    def _close(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            con.close()


if TYPE_CHECKING:
    _conforms: type[Store] = SQLiteStore


# --- opening -------------------------------------------------------------------------------


def _open(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"state store {path}: cannot create its folder: {exc.strerror}") from exc
    try:
        _refuse_foreign(path)
    except OSError as exc:
        raise StoreError(f"state store {path}: cannot inspect it: {exc.strerror}") from exc
    try:
        return _connect(path)
    except sqlite3.Error as exc:
        raise StoreError(
            f"state store {path}: cannot open it for writing ({_reason(exc)}); "
            "the file and its folder must be writable"
        ) from exc


def _refuse_foreign(path: Path) -> None:
    """Raise unless `path` is missing, empty, or a healthy state file we know how to read.

    Only reads: a file that is not ours is never modified, so an operator who pointed
    `MONITOR_STATE_PATH` at the wrong file loses nothing.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"state store {path} is not a regular file")
    if info.st_size == 0:
        return
    with path.open("rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreError(
            f"state store {path} is not a SQLite database (corrupt, or another kind of file); "
            "it was left untouched: move it away or set MONITOR_STATE_PATH to another file"
        )
    _check_identity(path)


def _check_identity(path: Path) -> None:
    # Without a WAL beside it the file alone is authoritative: read it as immutable, which
    # creates no -wal/-shm files next to somebody else's database. With one, the WAL holds
    # committed pages (a crash, or a daemon running now) and must be read through.
    wal = path.with_name(path.name + "-wal")
    immutable = "" if wal.exists() and wal.stat().st_size > 0 else "&immutable=1"
    try:
        con = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro{immutable}", uri=True, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error as exc:
        raise StoreError(f"state store {path}: cannot open it: {_reason(exc)}") from exc
    try:
        application_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = schema_version(con)
        tables = [
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        ]
        if application_id == 0 and version == 0 and not tables:
            return  # a blank database: ours to initialise
        if application_id != APPLICATION_ID:
            shown = ", ".join(sorted(tables)[:5]) or "none"
            raise StoreError(
                f"state store {path} is a SQLite database of another application "
                f"(application_id {application_id}, tables: {shown}); it was left untouched"
            )
        if version > LATEST_VERSION:
            raise StoreError(
                f"state store {path} has schema version {version}, newer than this release "
                f"knows ({LATEST_VERSION}); run a newer smartlead-monitor or restore a backup"
            )
        # Rows of quick_check may span lines; the error must stay one line.
        problems = [" ".join(str(row[0]).split()) for row in con.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise StoreError(f"state store {path} is damaged: {'; '.join(problems)[:MAX_REASON]}")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"state store {path} is damaged or not a database ({_reason(exc)}); "
            "it was left untouched"
        ) from exc
    finally:
        con.close()


def _close_opened(opening: Future[sqlite3.Connection]) -> None:
    """Close the connection of an open() whose caller gave up; runs on the worker thread."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


def _connect(path: Path) -> sqlite3.Connection:
    # Created on the worker thread and used only there, so sqlite3's same-thread check stays
    # on as a guard. Autocommit mode: every transaction below is an explicit BEGIN … COMMIT.
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"WAL mode is unavailable here (journal mode {mode})")
        # FULL, not NORMAL: in WAL mode NORMAL never corrupts the file, but a commit that
        # returned just before a power cut can vanish. The notification it enqueued may
        # already be delivered by then, and after the restart the issue would be notified
        # again under a new id. FULL costs one fsync of the WAL per transaction (per cycle,
        # per delivery), not per account.
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        con.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
        con.execute("PRAGMA temp_store = MEMORY")
        migrate(con)  # writes even when up to date: proves the file is writable now
    except BaseException:
        con.close()
        raise
    return con


# --- statements ----------------------------------------------------------------------------

# Literal SQL, one string per statement: sqlite3 caches each prepared statement by its text.
_UPSERT_ACCOUNT = "INSERT OR REPLACE INTO accounts (workspace, id, fields) VALUES (?1, ?2, ?3)"
# The same for ACCOUNT_BATCH rows at once, the workspace bound once as ?1: a third cheaper
# per account than one row per statement. Only placeholders are formatted into it.
_UPSERT_ACCOUNTS = _UPSERT_ACCOUNT.removesuffix(" (?1, ?2, ?3)") + ", ".join(
    f" (?1, ?{2 + 2 * i}, ?{3 + 2 * i})" for i in range(ACCOUNT_BATCH)
)
_DELETE_ACCOUNT = "DELETE FROM accounts WHERE workspace = ? AND id = ?"
_SELECT_ACCOUNTS = "SELECT id, fields FROM accounts WHERE workspace = ?"
_UPSERT_ISSUE = """
INSERT OR REPLACE INTO issues (
    workspace, account_id, kind, account_ref_id, account_email, account_from_name,
    account_esp, account_client_id, since, detail, observed_at, firing, failing_streak,
    healthy_streak, firing_for, reminded_for, reminders
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_DELETE_ISSUE = "DELETE FROM issues WHERE workspace = ? AND account_id = ? AND kind = ?"
_SELECT_ISSUES = """
SELECT workspace, account_id, kind, account_ref_id, account_email, account_from_name,
    account_esp, account_client_id, since, detail, observed_at, firing, failing_streak,
    healthy_streak, firing_for, reminded_for, reminders
FROM issues ORDER BY workspace, account_id, kind"""
_SELECT_WORKSPACE_ISSUES = """
SELECT workspace, account_id, kind, account_ref_id, account_email, account_from_name,
    account_esp, account_client_id, since, detail, observed_at, firing, failing_streak,
    healthy_streak, firing_for, reminded_for, reminders
FROM issues WHERE workspace = ?"""
_UPSERT_POLL = """
INSERT OR REPLACE INTO polls (workspace, poll, at, ok, duration, error, last_success_at, accounts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
_SELECT_POLLS = """
SELECT workspace, poll, at, ok, duration, error, last_success_at, accounts
FROM polls WHERE workspace = ?"""
# Only a duplicate id is skipped (a replayed cycle); any other constraint still fails loudly.
_ENQUEUE = """
INSERT INTO outbox (id, notifier, created_at, events, attempts, next_attempt_at, last_error)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"""
_HEAD = """
SELECT id, notifier, created_at, events, attempts, next_attempt_at, last_error
FROM outbox WHERE notifier = ? ORDER BY seq LIMIT ?"""
_DELETE_MESSAGE = "DELETE FROM outbox WHERE id = ?"
_MARK_FAILED = "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?"
_PENDING = "SELECT notifier, count(*) FROM outbox GROUP BY notifier"


# --- work done on the worker thread --------------------------------------------------------


def _commit(con: sqlite3.Connection, cycle: Cycle) -> None:
    """Everything of one cycle in one transaction; any error undoes all of it."""
    workspace = cycle.workspace
    con.execute("BEGIN IMMEDIATE")
    try:
        con.executemany(_DELETE_ACCOUNT, [(workspace, i) for i in cycle.accounts_removed])
        _upsert_accounts(con, workspace, cycle.accounts_upserted)
        con.executemany(_DELETE_ISSUE, map(_issue_key_row, cycle.issues_removed))
        con.executemany(_UPSERT_ISSUE, map(_issue_row, cycle.issues_upserted))
        con.execute(_UPSERT_POLL, _poll_row(cycle.poll_status))
        con.executemany(_ENQUEUE, map(_message_row, cycle.outbox))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:  # SQLite may already have rolled back (disk full)
            con.execute("ROLLBACK")
        raise


def _upsert_accounts(con: sqlite3.Connection, workspace: str, accounts: Sequence[Account]) -> None:
    rows = [(a.id, account_fields.encode(a)) for a in accounts]
    whole = len(rows) - len(rows) % ACCOUNT_BATCH
    batches = (
        (workspace, *chain.from_iterable(rows[start : start + ACCOUNT_BATCH]))
        for start in range(0, whole, ACCOUNT_BATCH)
    )
    con.executemany(_UPSERT_ACCOUNTS, batches)
    con.executemany(_UPSERT_ACCOUNT, [(workspace, *row) for row in rows[whole:]])


def _write(con: sqlite3.Connection, sql: str, row: tuple[Any, ...]) -> None:
    con.execute(sql, row)  # autocommit: one statement, one transaction


def _mark_failed(
    con: sqlite3.Connection, message_id: str, attempts: int, next_attempt_at: datetime, error: str
) -> None:
    row = (attempts, _to_us(next_attempt_at), error[:MAX_LAST_ERROR], message_id)
    _write(con, _MARK_FAILED, row)


def _load(con: sqlite3.Connection, workspace: str) -> WorkspaceState:
    con.execute("BEGIN")  # one consistent read across the three tables
    try:
        rows = con.execute(_SELECT_ACCOUNTS, (workspace,))
        accounts = {i: account_fields.decode(i, blob) for i, blob in rows}
        issues = [_issue(row) for row in con.execute(_SELECT_WORKSPACE_ISSUES, (workspace,))]
        polls = [_poll(row) for row in con.execute(_SELECT_POLLS, (workspace,))]
    finally:
        con.execute("COMMIT")
    return WorkspaceState(
        accounts=accounts,
        issues={issue.key: issue for issue in issues},
        polls={status.poll: status for status in polls},
    )


def _all_issues(con: sqlite3.Connection) -> list[Issue]:
    return [_issue(row) for row in con.execute(_SELECT_ISSUES)]


def _due_messages(
    con: sqlite3.Connection, notifier: str, now: datetime, limit: int
) -> list[OutboxMessage]:
    """The head of the notifier's queue up to the first message still waiting for its retry.

    Stopping there, rather than skipping it, keeps delivery in order per notifier.
    """
    now_us = _to_us(now)
    due: list[OutboxMessage] = []
    for row in con.execute(_HEAD, (notifier, max(limit, 0))).fetchall():
        if row[5] is not None and row[5] > now_us:
            break
        due.append(_message(row))
    return due


def _pending_counts(con: sqlite3.Connection) -> dict[str, int]:
    return {notifier: count for notifier, count in con.execute(_PENDING)}


# --- rows <-> data -------------------------------------------------------------------------


def _to_us(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError("naive datetime: the store keeps timezone-aware times only")
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _maybe_us(moment: datetime | None) -> int | None:
    return None if moment is None else _to_us(moment)


def _maybe_dt(value: int | None) -> datetime | None:
    return None if value is None else _from_us(value)


def _issue_key_row(key: IssueKey) -> tuple[Any, ...]:
    account_id = WORKSPACE_LEVEL if key.account_id is None else key.account_id
    return (key.workspace, account_id, str(key.kind))


def _issue_row(issue: Issue) -> tuple[Any, ...]:
    ref = issue.account
    account: tuple[Any, ...] = (
        (None,) * 5 if ref is None else (ref.id, ref.email, ref.from_name, ref.esp, ref.client_id)
    )
    return (
        *_issue_key_row(issue.key),
        *account,
        _to_us(issue.since),
        _json(_plain(issue.detail)),
        _to_us(issue.observed_at),
        1 if issue.firing else 0,  # an int binds fast, a bool does not
        issue.failing_streak,
        issue.healthy_streak,
        issue.firing_for,
        issue.reminded_for,
        issue.reminders,
    )


def _issue(row: tuple[Any, ...]) -> Issue:
    (workspace, account_id, kind, ref_id, email, from_name, esp, client_id) = row[:8]
    (since, detail, observed_at, firing, failing, healthy, firing_for, reminded_for) = row[8:16]
    key = IssueKey(
        workspace, None if account_id == WORKSPACE_LEVEL else account_id, IssueKind(kind)
    )
    return Issue(
        key=key,
        account=None if ref_id is None else AccountRef(ref_id, email, from_name, esp, client_id),
        since=_from_us(since),
        detail=json.loads(detail),
        observed_at=_from_us(observed_at),
        firing=bool(firing),
        failing_streak=failing,
        healthy_streak=healthy,
        firing_for=firing_for,
        reminded_for=reminded_for,
        reminders=row[16],
    )


def _poll_row(status: PollStatus) -> tuple[Any, ...]:
    return (
        status.workspace,
        str(status.poll),
        _to_us(status.at),
        1 if status.ok else 0,
        status.duration,
        status.error,
        _maybe_us(status.last_success_at),
        status.accounts,
    )


def _poll(row: tuple[Any, ...]) -> PollStatus:
    workspace, poll, at, ok, duration, error, last_success_at, accounts = row
    return PollStatus(
        workspace=workspace,
        poll=PollKind(poll),
        at=_from_us(at),
        ok=bool(ok),
        duration=duration,
        error=error,
        last_success_at=_maybe_dt(last_success_at),
        accounts=accounts,
    )


def _message_row(message: OutboxMessage) -> tuple[Any, ...]:
    events = _json([event_to_dict(e) for e in message.events])
    return (
        message.id,
        message.notifier,
        _to_us(message.created_at),
        events,
        message.attempts,
        _maybe_us(message.next_attempt_at),
        message.last_error,
    )


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    id_, notifier, created_at, events, attempts, next_attempt_at, last_error = row
    return OutboxMessage(
        id=id_,
        notifier=notifier,
        created_at=_from_us(created_at),
        events=tuple(event_from_dict(e) for e in _json_list(events)),
        attempts=attempts,
        next_attempt_at=_maybe_dt(next_attempt_at),
        last_error=last_error,
    )


def _json_list(text: str) -> Iterable[Any]:
    value = json.loads(text)
    if not isinstance(value, list):
        raise ValueError("outbox row holds no list of events")
    return value


def _json(value: object) -> str:
    """Compact JSON text, read back by json.loads (bound as TEXT, as version 1 wrote it)."""
    return _JSON.encode(value).decode()


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    return detail if type(detail) is dict else dict(detail)


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, sqlite3.Error) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_REASON]
