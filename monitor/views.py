"""What the HTTP API answers, as pure functions of the stored state and a given `now`.

The daemon's `HttpView` calls these; keeping them free of I/O lets a table test pin every
JSON shape without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from monitor.core.model import Issue, IssueKind, PollKind, iso
from monitor.store import PollStatus, WorkspaceState

# A workspace is ready while its last successful failure poll is younger than this many
# failure-poll intervals (contract §7).
READY_INTERVALS = 3


def issues_json(
    states: Mapping[str, WorkspaceState], silenced: Callable[[Issue], bool]
) -> list[dict[str, object]]:
    """Open (firing) issues, ordered by workspace, account and kind.

    Workspace-level issues have `account_id` and `email` null. `silenced` says whether a
    silence currently matches; a silenced issue is still listed.
    """
    rows: list[tuple[tuple[str, int, str], dict[str, object]]] = []
    for workspace, state in states.items():
        for issue in state.issues.values():
            if not issue.firing:
                continue
            account_id = issue.key.account_id
            rows.append(
                (
                    (workspace, -1 if account_id is None else account_id, str(issue.key.kind)),
                    {
                        "workspace": workspace,
                        "account_id": account_id,
                        "email": _email(issue, state),
                        "kind": str(issue.key.kind),
                        "since": iso(issue.since),
                        "detail": dict(issue.detail),
                        "silenced": silenced(issue),
                    },
                )
            )
    rows.sort(key=lambda row: row[0])
    return [row for _, row in rows]


def status_json(
    states: Mapping[str, WorkspaceState], pending: Mapping[str, int], now: datetime
) -> dict[str, object]:
    """Per workspace: polls, account count, open issues; and the outbox backlog per notifier."""
    workspaces: dict[str, object] = {}
    for workspace, state in sorted(states.items()):
        by_kind = dict.fromkeys((str(kind) for kind in IssueKind), 0)
        pending_issues = 0
        for issue in state.issues.values():
            if issue.firing:
                by_kind[str(issue.key.kind)] += 1
            else:
                pending_issues += 1
        workspaces[workspace] = {
            "accounts": len(state.accounts),
            "open_issues": sum(by_kind.values()),
            "open_issues_by_kind": by_kind,
            "pending_issues": pending_issues,
            "polls": {str(poll): _poll_json(state.polls.get(poll), now) for poll in PollKind},
        }
    return {
        "generated_at": iso(now),
        "workspaces": workspaces,
        "outbox": {"pending": dict(sorted(pending.items())), "total": sum(pending.values())},
    }


def readiness(
    states: Mapping[str, WorkspaceState], now: datetime, poll_interval: float
) -> tuple[bool, dict[str, object]]:
    """Ready when every workspace had a successful failure poll within 3 poll intervals.

    Otherwise the JSON names each stale workspace with its last success and last error, so
    a failing probe explains itself.
    """
    max_age = READY_INTERVALS * poll_interval
    stale: list[dict[str, object]] = []
    for workspace, state in sorted(states.items()):
        status = state.polls.get(PollKind.FAILURE)
        last = last_success(status)
        error = status.error if status is not None and not status.ok else None
        if last is None:
            reason = "no successful failure poll yet"
            age = None
        else:
            age = (now - last).total_seconds()
            if age <= max_age:
                continue
            reason = f"last successful failure poll {age:.0f} s ago (limit {max_age:g} s)"
        stale.append(
            {
                "workspace": workspace,
                "reason": reason,
                "last_success_at": iso(last) if last is not None else None,
                "age_seconds": age,
                "last_error": error,
            }
        )
    if not states:
        return False, {"status": "not_ready", "reason": "no workspace loaded yet", "stale": []}
    if stale:
        names = ", ".join(str(entry["workspace"]) for entry in stale)
        return False, {
            "status": "not_ready",
            "reason": f"failure poll stale for: {names}",
            "max_age_seconds": max_age,
            "stale": stale,
        }
    return True, {"status": "ready", "max_age_seconds": max_age}


def _poll_json(status: PollStatus | None, now: datetime) -> dict[str, object] | None:
    if status is None:
        return None
    last = last_success(status)
    return {
        "last_poll_at": iso(status.at),
        "outcome": "ok" if status.ok else "failed",
        "error": status.error,
        "duration_seconds": round(status.duration, 3),
        "last_success_at": iso(last) if last is not None else None,
        "last_success_age_seconds": round((now - last).total_seconds(), 3) if last else None,
        "accounts": status.accounts,
    }


def last_success(status: PollStatus | None) -> datetime | None:
    """When this poll last succeeded: a successful status is its own latest success."""
    if status is None:
        return None
    if status.ok:
        return max(status.at, status.last_success_at or status.at)
    return status.last_success_at


def _email(issue: Issue, state: WorkspaceState) -> str | None:
    if issue.account is not None:
        return issue.account.email
    if issue.key.account_id is None:
        return None
    known = state.accounts.get(issue.key.account_id)
    return known.email if known is not None else None
