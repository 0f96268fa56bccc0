"""Typed views of SmartLead email-account payloads, parsed tolerantly.

The parser reads only the fields the monitor needs, so credential fields (`password`,
`imap_password`, …) are never copied out of the raw payload: they cannot reach a repr,
a log line, the state store or an exception. Error messages name fields, never values.

A list answer decodes in one of two ways that give the same accounts (a property test holds
them to it): the fast path reads only those fields straight from the bytes with msgspec,
when every one of them is a JSON scalar; anything else (an object where text belongs, a row
without an id, not JSON at all) takes the tolerant path over `json.loads`, which also words
the errors.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Any

import msgspec

# Provider error texts are untrusted and unbounded; keep enough to diagnose, no more.
MAX_TEXT = 500
# An integer written as text: ASCII digits only ("²" and "--5" pass str.isdigit() tricks).
_INTEGER = re.compile(r"-?[0-9]{1,19}")
# Ids and counts beyond 64 bits are nonsense that SQLite could not store: read as missing.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class PayloadError(ValueError):
    """A payload that is not the shape the SmartLead API documents."""


# Accounts hold only scalars, text and WarmupDetails: they cannot be part of a reference
# cycle, so the cyclic GC need not track them (gc=False). A 100,000-account snapshot would
# otherwise be walked by every full collection. array_like: the store keeps them as msgpack
# arrays (monitor/store/account_fields.py).
class WarmupDetails(msgspec.Struct, frozen=True, gc=False, array_like=True):
    status: str | None
    reputation: float | None  # ratio 0..1; None when missing or unreadable
    is_blocked: bool | None  # None when the payload does not say (list rows often don't)
    blocked_reason: str | None


class Account(msgspec.Struct, frozen=True, gc=False, array_like=True):
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


def decode_accounts(body: bytes) -> list[Account]:
    """The accounts of a list answer's body.

    Raises PayloadError for a body that is JSON of another shape, ValueError for one that is
    not JSON.
    """
    accounts = decode_common(body)
    return parse_accounts(json.loads(body)) if accounts is None else accounts


def decode_common(body: bytes) -> list[Account] | None:
    """The fast path: None unless the body is an array of objects with a usable `id` whose
    read fields are all JSON scalars (or `warmup_details` an object of such)."""
    try:
        rows = _LIST.decode(body)
    except msgspec.DecodeError:
        return None
    accounts = []
    for row in rows:
        account = _account(row)
        if account is None:
            return None
        accounts.append(account)
    return accounts


def parse_accounts(body: object) -> list[Account]:
    """Parse a decoded list answer: a JSON array of account objects."""
    if not isinstance(body, list):
        raise PayloadError(f"expected a JSON array of accounts, got {_kind(body)}")
    return [parse_account(row, where=f"row {i}") for i, row in enumerate(body)]


def parse_account(raw: object, where: str = "account") -> Account:
    """Parse one decoded account object; only a missing or unusable `id` is fatal."""
    if not isinstance(raw, Mapping):
        raise PayloadError(f"{where}: expected an object, got {_kind(raw)}")
    warmup = raw.get("warmup_details")
    row = _Row(
        **{name: _scalar(raw.get(name)) for name in _ROW_FIELDS},
        warmup_details=(
            _WarmupRow(**{name: _scalar(warmup.get(name)) for name in _WARMUP_FIELDS})
            if isinstance(warmup, Mapping)
            else None
        ),
    )
    account = _account(row)
    if account is None:
        raise PayloadError(f"{where}: 'id' is missing or not a non-negative integer")
    return account


# The fields read, by their payload names. A value that is not a JSON scalar reads as
# missing in both paths: every conversion below maps it to None.
Scalar = str | int | float | bool | None


class _WarmupRow(msgspec.Struct, gc=False):
    status: Scalar = None
    warmup_reputation: Scalar = None
    is_warmup_blocked: Scalar = None
    blocked_reason: Scalar = None


class _Row(msgspec.Struct, gc=False):
    id: Scalar = None
    from_email: Scalar = None
    username: Scalar = None
    from_name: Scalar = None
    type: Scalar = None
    client_id: Scalar = None
    is_smtp_success: Scalar = None
    smtp_failure_error: Scalar = None
    is_imap_success: Scalar = None
    imap_failure_error: Scalar = None
    daily_sent_count: Scalar = None
    message_per_day: Scalar = None
    warmup_details: _WarmupRow | None = None


_LIST = msgspec.json.Decoder(list[_Row])
_ROW_FIELDS = tuple(name for name in _Row.__struct_fields__ if name != "warmup_details")
_WARMUP_FIELDS = _WarmupRow.__struct_fields__


def _scalar(value: object) -> Scalar:
    return value if value is None or isinstance(value, str | int | float) else None


def _account(row: _Row) -> Account | None:
    """The account a row describes; None when its id is unusable."""
    account_id = _int(row.id)
    if account_id is None or account_id < 0:
        return None
    warmup = row.warmup_details
    return Account(
        account_id,
        _text(row.from_email) or _text(row.username) or "",
        _text(row.from_name) or "",
        sys.intern((_text(row.type) or "UNKNOWN").upper()),
        _int(row.client_id),
        _bool(row.is_smtp_success),
        _text(row.smtp_failure_error),
        _bool(row.is_imap_success),
        _text(row.imap_failure_error),
        _int(row.daily_sent_count),
        _int(row.message_per_day),
        None if warmup is None else _warmup(warmup),
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


def _warmup(raw: _WarmupRow) -> WarmupDetails:
    """Read from the raw values' cache: converting them took more CPU than the rest of the
    row. Types are part of the key, as True, 1 and 1.0 are equal keys that read differently."""
    s, r, b, x = raw.status, raw.warmup_reputation, raw.is_warmup_blocked, raw.blocked_reason
    key = (s, type(s), r, type(r), b, type(b), x, type(x))
    details = _RAW_WARMUPS.get(key)
    if details is None:
        details = _convert_warmup(raw)
        if len(_RAW_WARMUPS) < SHARED_WARMUPS:
            _RAW_WARMUPS[key] = details
    return details


def _convert_warmup(raw: _WarmupRow) -> WarmupDetails:
    status = _text(raw.status)
    return shared_warmup(
        status.upper() if status else None,
        parse_reputation(raw.warmup_reputation),
        _bool(raw.is_warmup_blocked),
        _text(raw.blocked_reason),
    )


# Warmup details repeat across a fleet (ACTIVE at 100 %, at 98 %, …): equal ones share one
# object, ~70 B less per account. Bounded, as every value comes from the API.
_WARMUPS: dict[tuple[str | None, float | None, bool | None, str | None], WarmupDetails] = {}
_RAW_WARMUPS: dict[tuple[Scalar | type, ...], WarmupDetails] = {}  # by the payload's values
SHARED_WARMUPS = 1024  # entries of each: a fleet shows a few hundred warmup states


def shared_warmup(
    status: str | None, reputation: float | None, is_blocked: bool | None, reason: str | None
) -> WarmupDetails:
    """The WarmupDetails of these values, the same object for equal values while it can."""
    key = (status, reputation, is_blocked, reason)
    details = _WARMUPS.get(key)
    if details is None:
        details = WarmupDetails(status and sys.intern(status), reputation, is_blocked, reason)
        if len(_WARMUPS) < SHARED_WARMUPS:
            _WARMUPS[key] = details
    return details


# Each conversion tests the type SmartLead usually sends first: they run for every field of
# every row of every inventory.


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if value is None or isinstance(value, bool):
        return None
    number: int | None = None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            number = int(text)
    return _int(number)


def _bool(value: Any) -> bool | None:
    if type(value) is bool or value is None:
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
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()  # CPython hands back the same object when there is nothing to strip
        if not text:
            return None
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
