"""What one account row says about each issue kind (product.md §5, the account rows)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.health import Source, quiet, verdicts
from monitor.core.model import IssueKind
from monitor.smartlead.models import Account, WarmupDetails, parse_account

from .factories import account, warmup

SMTP, IMAP, BLOCKED, REPUTATION = (
    IssueKind.SMTP_FAILED,
    IssueKind.IMAP_FAILED,
    IssueKind.WARMUP_BLOCKED,
    IssueKind.REPUTATION_LOW,
)
INVENTORY = frozenset({Source.INVENTORY})
BY_ID = frozenset({Source.BY_ID})
SMTP_ANSWER = frozenset({Source.SMTP_FAILING})
BLOCKED_ANSWER = frozenset({Source.WARMUP_BLOCKED})
LINE = 0.8

# (kind, row, sources, expected): True failing, False healthy, None no verdict at all.
TABLE: list[tuple[str, IssueKind, Account, frozenset[Source], bool | None]] = [
    ("smtp false fails", SMTP, account(smtp=False), INVENTORY, True),
    ("smtp true is healthy", SMTP, account(smtp=True), INVENTORY, False),
    ("smtp unknown says nothing", SMTP, account(smtp=None), INVENTORY, None),
    ("smtp unknown in smtp answer fails", SMTP, account(smtp=None), SMTP_ANSWER, True),
    ("smtp false by id fails", SMTP, account(smtp=False), BY_ID, True),
    ("imap false fails", IMAP, account(imap=False), INVENTORY, True),
    ("imap true is healthy", IMAP, account(imap=True), INVENTORY, False),
    ("imap unknown says nothing", IMAP, account(imap=None), INVENTORY, None),
    ("imap false in smtp answer fails", IMAP, account(imap=False), SMTP_ANSWER, True),
    (
        "blocked flag true fails",
        BLOCKED,
        account(warmup_details=warmup(blocked=True)),
        INVENTORY,
        True,
    ),
    (
        "blocked flag false is healthy even with a reason",
        BLOCKED,
        account(warmup_details=warmup(blocked=False, reason="old reason")),
        BY_ID,
        False,
    ),
    (
        "membership in the blocked answer fails",
        BLOCKED,
        account(warmup_details=warmup()),
        BLOCKED_ANSWER,
        True,
    ),
    (
        "membership in the blocked answer wins over a false flag",
        BLOCKED,
        account(warmup_details=warmup(blocked=False)),
        BLOCKED_ANSWER,
        True,
    ),
    (
        "membership in the blocked answer without warmup details fails",
        BLOCKED,
        account(warmup_details=None),
        BLOCKED_ANSWER,
        True,
    ),
    (
        "inventory row without flag but with a reason fails",
        BLOCKED,
        account(warmup_details=warmup(reason="spam complaints")),
        INVENTORY,
        True,
    ),
    (
        "by-id row without flag but with a reason fails",
        BLOCKED,
        account(warmup_details=warmup(reason="spam complaints")),
        BY_ID,
        True,
    ),
    (
        "inventory row without flag and with an empty reason is healthy",
        BLOCKED,
        account(warmup_details=warmup(reason="")),
        INVENTORY,
        False,
    ),
    (
        "inventory row without flag or reason is healthy",
        BLOCKED,
        account(warmup_details=warmup()),
        INVENTORY,
        False,
    ),
    (
        "inventory row without warmup details is healthy",
        BLOCKED,
        account(warmup_details=None),
        INVENTORY,
        False,
    ),
    (
        "smtp-answer row without flag or reason says nothing",
        BLOCKED,
        account(smtp=False, warmup_details=warmup()),
        SMTP_ANSWER,
        None,
    ),
    (
        "smtp-answer row without warmup details says nothing",
        BLOCKED,
        account(smtp=False, warmup_details=None),
        SMTP_ANSWER,
        None,
    ),
    (
        "smtp-answer row with a flag speaks",
        BLOCKED,
        account(smtp=False, warmup_details=warmup(blocked=False)),
        SMTP_ANSWER,
        False,
    ),
    (
        "smtp-answer row with a reason fails",
        BLOCKED,
        account(smtp=False, warmup_details=warmup(reason="bounces")),
        SMTP_ANSWER,
        True,
    ),
    (
        "active warmup under the line is low",
        REPUTATION,
        account(warmup_details=warmup(reputation=0.79)),
        INVENTORY,
        True,
    ),
    (
        "active warmup exactly at the line is not low",
        REPUTATION,
        account(warmup_details=warmup(reputation=0.8)),
        INVENTORY,
        False,
    ),
    (
        "active warmup above the line is not low",
        REPUTATION,
        account(warmup_details=warmup(reputation=0.81)),
        INVENTORY,
        False,
    ),
    (
        "missing reputation is not low",
        REPUTATION,
        account(warmup_details=warmup(reputation=None)),
        INVENTORY,
        False,
    ),
    (
        "paused warmup under the line is not low",
        REPUTATION,
        account(warmup_details=warmup(status="PAUSED", reputation=0.2)),
        INVENTORY,
        False,
    ),
    (
        "warmup without status is not low",
        REPUTATION,
        account(warmup_details=warmup(status=None, reputation=0.2)),
        INVENTORY,
        False,
    ),
    ("no warmup details is not low", REPUTATION, account(warmup_details=None), INVENTORY, False),
    (
        "a low reputation in a failure-poll row fails",
        REPUTATION,
        account(smtp=False, warmup_details=warmup(reputation=0.5)),
        SMTP_ANSWER,
        True,
    ),
]


@pytest.mark.parametrize(
    ("kind", "row", "sources", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in TABLE],
)
def test_verdict_table(
    kind: IssueKind, row: Account, sources: frozenset[Source], expected: bool | None
) -> None:
    """Each row of §5 gives failing, healthy, or no evidence for its kind."""
    found = verdicts(row, sources, LINE)
    if expected is None:
        assert kind not in found
    else:
        assert found[kind].failing is expected


def test_workspace_kinds_never_come_from_a_row() -> None:
    """A row speaks only about its account, never about api_auth_failed or api_unavailable."""
    found = verdicts(account(smtp=False, imap=False), INVENTORY, LINE)
    assert set(found) == {SMTP, IMAP, BLOCKED, REPUTATION}


def test_details_carry_the_provider_texts() -> None:
    """Each verdict's detail is the field §5 names for its kind."""
    row = account(
        smtp=False,
        smtp_error="535 Authentication failed",
        imap=False,
        imap_error="IMAP login refused",
        warmup_details=warmup(reputation=0.42, blocked=True, reason="spam traps"),
    )
    found = verdicts(row, INVENTORY, LINE)
    assert found[SMTP].detail == {"error": "535 Authentication failed"}
    assert found[IMAP].detail == {"error": "IMAP login refused"}
    assert found[BLOCKED].detail == {"blocked_reason": "spam traps"}
    assert found[REPUTATION].detail == {"reputation": 0.42, "threshold": LINE}


def test_a_row_in_both_failing_answers_fails_both() -> None:
    """A row seen in the SMTP and the blocked answer of one poll carries both sources."""
    row = account(smtp=None, warmup_details=None)
    found = verdicts(row, SMTP_ANSWER | BLOCKED_ANSWER, LINE)
    assert found[SMTP].failing
    assert found[BLOCKED].failing


@pytest.mark.parametrize(
    ("reputation", "line", "low"),
    [
        ("79%", 0.8, True),
        ("80%", 0.8, False),
        (80, 0.8, False),
        ("80", 0.8, False),
        ("79.9", 0.8, True),
        (57, 0.57, False),
        (56, 0.57, True),
        ("", 0.8, False),
        (None, 0.8, False),
        ("n/a", 0.8, False),
    ],
)
def test_reputation_as_the_api_sends_it(reputation: object, line: float, low: bool) -> None:
    """Reputation parsed from any payload form is low only strictly under the line."""
    row = parse_account(
        {
            "id": 5,
            "from_email": "a@example.com",
            "is_smtp_success": True,
            "is_imap_success": True,
            "warmup_details": {"status": "ACTIVE", "warmup_reputation": reputation},
        }
    )
    assert verdicts(row, INVENTORY, line)[REPUTATION].failing is low


@given(
    smtp=st.sampled_from([True, False, None]),
    imap=st.sampled_from([True, False, None]),
    details=st.none()
    | st.builds(
        warmup,
        status=st.sampled_from(["ACTIVE", "INACTIVE", None]),
        reputation=st.none() | st.floats(0, 1),
        blocked=st.sampled_from([True, False, None]),
        reason=st.sampled_from([None, "", "Blocked by provider"]),
    ),
)
def test_quiet_rows_are_exactly_the_rows_without_a_failing_verdict(
    smtp: bool | None, imap: bool | None, details: WarmupDetails | None
) -> None:
    """quiet() (the lifecycle's fast path) agrees with the full verdicts of an inventory row."""
    row = account(smtp=smtp, imap=imap, warmup_details=details)
    found = verdicts(row, frozenset({Source.INVENTORY}), 0.8)
    assert quiet(row, 0.8) == (not any(v.failing for v in found.values()))
