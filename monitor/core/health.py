"""What one account row says about each issue kind: failing, healthy, or nothing."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec

from monitor.core.model import IssueKind
from monitor.smartlead.models import Account


class Source(StrEnum):
    """Where a row came from decides what its missing fields mean."""

    INVENTORY = "inventory"  # the full list: a row is the whole truth about the account
    BY_ID = "by_id"  # GET /email-accounts/{id}/: the whole truth, with is_warmup_blocked
    SMTP_FAILING = "smtp_failing"  # a row of the isSmtpSuccess=false answer
    WARMUP_BLOCKED = "warmup_blocked"  # a row of the isWarmupBlocked=true answer


class Verdict(msgspec.Struct, frozen=True):
    failing: bool
    detail: Mapping[str, Any]


def verdicts(
    account: Account, sources: frozenset[Source], reputation_low: float
) -> dict[IssueKind, Verdict]:
    """The kinds this row gives evidence on; a kind it cannot speak to is absent.

    `reputation_low` is a ratio (0.8 for 80 %). A row seen in several answers of one poll
    carries all their sources.
    """
    found: dict[IssueKind, Verdict] = {}
    smtp = account.is_smtp_success
    if smtp is None and Source.SMTP_FAILING in sources:
        smtp = False
    if smtp is not None:
        found[IssueKind.SMTP_FAILED] = Verdict(not smtp, {"error": account.smtp_failure_error})
    if account.is_imap_success is not None:
        found[IssueKind.IMAP_FAILED] = Verdict(
            not account.is_imap_success, {"error": account.imap_failure_error}
        )
    blocked = warmup_blocked(account, sources)
    if blocked is not None:
        reason = account.warmup.blocked_reason if account.warmup else None
        found[IssueKind.WARMUP_BLOCKED] = Verdict(blocked, {"blocked_reason": reason})
    reputation = account.warmup.reputation if account.warmup else None
    found[IssueKind.REPUTATION_LOW] = Verdict(
        reputation_is_low(account, reputation_low),
        {"reputation": reputation, "threshold": reputation_low},
    )
    return found


_WHOLE_ROW = frozenset({Source.INVENTORY, Source.BY_ID})


def quiet(account: Account, reputation_low: float) -> bool:
    """An inventory row that fails nothing: every verdict of it would say healthy.

    `warmup_blocked` and `reputation_is_low` for an inventory row, inlined: this runs for
    every row of every inventory (a property test holds it to `verdicts`).
    """
    if account.is_smtp_success is False or account.is_imap_success is False:
        return False
    warmup = account.warmup
    if warmup is None:
        return True
    if warmup.is_blocked or (warmup.is_blocked is None and warmup.blocked_reason):
        return False
    reputation = warmup.reputation
    return reputation is None or warmup.status != "ACTIVE" or reputation >= reputation_low


def warmup_blocked(account: Account, sources: frozenset[Source]) -> bool | None:
    """Membership in the blocked answer wins, then the explicit flag, then blocked_reason.

    A row from the SMTP-failing answer without flag or reason says nothing: the account may
    have been omitted from a blocked page that drifted.
    """
    if Source.WARMUP_BLOCKED in sources:
        return True
    warmup = account.warmup
    if warmup is not None and warmup.is_blocked is not None:
        return warmup.is_blocked
    has_reason = bool(warmup and warmup.blocked_reason)
    if has_reason:
        return True
    if not sources.isdisjoint(_WHOLE_ROW):
        return False
    return None


def reputation_is_low(account: Account, reputation_low: float) -> bool:
    """Only an ACTIVE warmup with a readable reputation strictly under the line is low."""
    warmup = account.warmup
    if warmup is None or warmup.status != "ACTIVE" or warmup.reputation is None:
        return False
    return warmup.reputation < reputation_low
