"""The two polls of §4, from API calls to a PollOutcome the core can judge.

A poll is all-or-nothing: any request that still fails after the client's retries turns
the whole poll into a PollFailure, and nothing from it is diffed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from monitor.core.lifecycle import to_confirm
from monitor.core.model import Issue, IssueKey, PollFailure, PollKind, PollOutcome, PollResult
from monitor.smartlead.client import AccountList
from monitor.smartlead.errors import ApiError, AuthError
from monitor.smartlead.models import Account

SMTP_FAILING = {"isSmtpSuccess": "false"}
WARMUP_BLOCKED = {"isWarmupBlocked": "true"}  # never combined with the above: the API ANDs


class AccountsApi(Protocol):
    async def list_accounts(
        self, filters: Mapping[str, str] | None = None, known: Mapping[int, Account] | None = None
    ) -> AccountList: ...

    async def get_account(self, account_id: int) -> Account | None: ...


async def run_poll(
    api: AccountsApi,
    workspace: str,
    poll: PollKind,
    issues: Mapping[IssueKey, Issue],
    at: datetime,
    known: Mapping[int, Account] | None = None,
) -> PollOutcome:
    """One poll of one workspace, with the by-id confirmations its recoveries need.

    `known` is the last snapshot: rows equal to it come back as its objects (memory, and a
    diff that sees them unchanged at a glance).
    """
    pages = requests = 0
    try:
        if poll is PollKind.INVENTORY:
            inventory = await api.list_accounts(known=known)
            pages, requests = inventory.pages, inventory.requests
            result = PollResult(workspace, poll, at, inventory.by_id, pages=pages)
        else:
            smtp = await api.list_accounts(SMTP_FAILING, known)
            blocked = await api.list_accounts(WARMUP_BLOCKED, known)
            pages, requests = smtp.pages + blocked.pages, smtp.requests + blocked.requests
            result = PollResult(
                workspace,
                poll,
                at,
                {**smtp.by_id, **blocked.by_id},
                smtp_failing=frozenset(smtp.by_id),
                warmup_blocked=frozenset(blocked.by_id),
                pages=pages,
            )
        confirmed: dict[int, Account | None] = {}
        for account_id in sorted(to_confirm(issues, result)):
            confirmed[account_id] = await api.get_account(account_id)
            requests += 1
        return replace(result, confirmed=confirmed, requests=requests)
    except AuthError as error:
        return PollFailure(workspace, poll, at, str(error), auth=True, status=401, pages=pages)
    except ApiError as error:
        return PollFailure(workspace, poll, at, str(error), status=error.status, pages=pages)
