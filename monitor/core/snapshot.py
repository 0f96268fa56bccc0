"""The last known state of every account of a workspace, and what changed between two."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.core.model import PollKind, PollResult
from monitor.smartlead.models import Account


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    upserted: list[Account]  # new or changed accounts
    removed: list[int]

    def __bool__(self) -> bool:
        return bool(self.upserted or self.removed)


def merge(
    accounts: Mapping[int, Account], result: PollResult, stale: frozenset[int] = frozenset()
) -> dict[int, Account]:
    """The snapshot after a successful poll.

    An inventory replaces the snapshot; a failure poll overlays the rows it saw, which are
    whole account rows and fresher. By-id confirmations overlay last; a 404 removes.
    `stale` accounts keep the row they have: a poll that finished first saw them later.
    """
    if result.poll is PollKind.INVENTORY:
        if not result.confirmed and not stale:
            return result.rows  # nothing to overlay: no second copy of the fleet
        current = dict(result.rows)
    else:
        current = {**accounts, **result.rows}
    for account_id, confirmed in result.confirmed.items():
        if confirmed is None:
            current.pop(account_id, None)
        else:
            current[account_id] = confirmed
    for account_id in stale:
        if (kept := accounts.get(account_id)) is not None:
            current[account_id] = kept
    return current


def diff(previous: Mapping[int, Account], current: Mapping[int, Account]) -> SnapshotDiff:
    """Accounts to write and to delete; unchanged rows are usually the same object."""
    upserted = [
        account
        for account_id, account in current.items()
        if (old := previous.get(account_id)) is not account and old != account
    ]
    removed = [account_id for account_id in previous if account_id not in current]
    return SnapshotDiff(upserted, removed)
