"""The `status` command: open issues from the state store, as a table."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.config import Settings
from monitor.core.model import Issue, iso
from monitor.store.sqlite import SQLiteStore

COLUMNS = ("WORKSPACE", "ACCOUNT", "EMAIL", "KIND", "SINCE", "DETAIL")


async def open_issues_table(settings: Settings) -> str:
    store = await SQLiteStore.open(settings.state.path)
    try:
        issues = [issue for issue in await store.issues() if issue.firing]
    finally:
        await store.close()
    return format_table(sorted(issues, key=lambda i: i.key.order))


def format_table(issues: Sequence[Issue]) -> str:
    """A plain fixed-width table; `no open issues` when there is nothing to show."""
    if not issues:
        return "no open issues"
    rows = [COLUMNS] + [
        (
            issue.key.workspace,
            "" if issue.key.account_id is None else str(issue.key.account_id),
            issue.account.email if issue.account else "",
            str(issue.key.kind),
            iso(issue.since),
            _detail(issue),
        )
        for issue in issues
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _detail(issue: Issue) -> str:
    text = ", ".join(f"{k}={v}" for k, v in issue.detail.items() if v is not None)
    return text if len(text) <= 80 else text[:77] + "..."
