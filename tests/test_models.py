"""Tolerant parsing of SmartLead account payloads."""

import pytest

from monitor.smartlead.models import PayloadError, parse_account, parse_reputation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("95%", 0.95),
        (95, 0.95),
        ("95", 0.95),
        ("100", 1.0),
        (None, None),
        ("", None),
        ("n/a", None),
        (True, None),
        (101, None),
        (-1, None),
        (72.5, 0.725),
        (" 80 % ", 0.8),
    ],
)
def test_reputation_forms(raw: object, expected: float | None) -> None:
    """Every reputation form seen in real payloads reads as a ratio or None."""
    assert parse_reputation(raw) == expected


def test_credentials_never_kept() -> None:
    """Password fields are not copied into the model, so no repr can show them."""
    account = parse_account(
        {"id": 7, "from_email": "a@x.io", "password": "CANARY-pw", "imap_password": "CANARY-imap"}
    )
    assert "CANARY" not in repr(account)


def test_missing_id_is_a_clear_error() -> None:
    """A row without an id fails with a message naming the field, not the values."""
    with pytest.raises(PayloadError, match="'id'") as caught:
        parse_account({"from_email": "a@x.io", "password": "CANARY-pw"})
    assert "CANARY" not in str(caught.value)
