"""Typed views of SmartLead email-account payloads, parsed tolerantly.

The parser reads only the fields the monitor needs, so credential fields (`password`,
`imap_password`, …) are never copied out of the raw payload: they cannot reach a repr,
a log line, the state store or an exception. Error messages name fields, never values.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Provider error texts are untrusted and unbounded; keep enough to diagnose, no more.
MAX_TEXT = 500
# An integer written as text: ASCII digits only ("²" and "--5" pass str.isdigit() tricks).
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class PayloadError(ValueError):
    """A payload that is not the shape the SmartLead API documents."""


@dataclass(frozen=True, slots=True)
class WarmupDetails:
    status: str | None
    reputation: float | None  # ratio 0..1; None when missing or unreadable
    is_blocked: bool | None  # None when the payload does not say (list rows often don't)
    blocked_reason: str | None


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    from_name: str
    esp: str  # SmartLead's `type`: GMAIL, OUTLOOK, SMTP, ZOHO, … kept as data
    client_id: int | None
    is_smtp_success: bool | None  # None: the payload did not say
    smtp_failure_error: str | None
    is_imap_success: bool | None
    imap_failure_error: str | None
    daily_sent_count: int | None
    message_per_day: int | None
    warmup: WarmupDetails | None


def parse_accounts(body: object) -> list[Account]:
    """Parse a list answer: a JSON array of account objects."""
    if not isinstance(body, list):
        raise PayloadError(f"expected a JSON array of accounts, got {_kind(body)}")
    return [parse_account(row, where=f"row {i}") for i, row in enumerate(body)]


def parse_account(raw: object, where: str = "account") -> Account:
    """Parse one account object; only a missing or unusable `id` is fatal."""
    if not isinstance(raw, Mapping):
        raise PayloadError(f"{where}: expected an object, got {_kind(raw)}")
    account_id = _int(raw.get("id"))
    if account_id is None or account_id < 0:
        raise PayloadError(f"{where}: 'id' is missing or not a non-negative integer")
    email = _text(raw.get("from_email")) or _text(raw.get("username")) or ""
    return Account(
        id=account_id,
        email=email,
        from_name=_text(raw.get("from_name")) or "",
        esp=sys.intern((_text(raw.get("type")) or "UNKNOWN").upper()),
        client_id=_int(raw.get("client_id")),
        is_smtp_success=_bool(raw.get("is_smtp_success")),
        smtp_failure_error=_text(raw.get("smtp_failure_error")),
        is_imap_success=_bool(raw.get("is_imap_success")),
        imap_failure_error=_text(raw.get("imap_failure_error")),
        daily_sent_count=_int(raw.get("daily_sent_count")),
        message_per_day=_int(raw.get("message_per_day")),
        warmup=_warmup(raw.get("warmup_details")),
    )


def parse_reputation(value: object) -> float | None:
    """`"95%"`, `95`, `"95"`, `95.5` → 0.95…; empty, null or nonsense → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) and not 0 <= value <= 100:
        return None  # also ints too large for a float
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    if not 0.0 <= number <= 100.0:  # also rejects NaN
        return None
    return number / 100.0


def _warmup(raw: object) -> WarmupDetails | None:
    if not isinstance(raw, Mapping):
        return None
    status = _text(raw.get("status"))
    return WarmupDetails(
        status=sys.intern(status.upper()) if status else None,
        reputation=parse_reputation(raw.get("warmup_reputation")),
        is_blocked=_bool(raw.get("is_warmup_blocked")),
        blocked_reason=_text(raw.get("blocked_reason")),
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        return text[:MAX_TEXT] if text else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
