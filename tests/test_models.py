"""Tolerant parsing of SmartLead account payloads."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.smartlead import models
from monitor.smartlead.models import (
    SHARED_WARMUPS,
    Account,
    PayloadError,
    decode_accounts,
    decode_common,
    parse_account,
    parse_accounts,
    parse_reputation,
    shared_warmup,
)
from monitor.smartlead.simulator import Fleet


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
        (10**400, None),
        ("1e400", None),
    ],
)
def test_reputation_forms(raw: object, expected: float | None) -> None:
    """Every reputation form seen in real payloads reads as a ratio or None."""
    assert parse_reputation(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("-3", -3),
        (12.0, 12),
        ("--5", None),
        ("²", None),
        ("٣", None),
        ("1.0", None),
        (True, None),
        (2**63 - 1, 2**63 - 1),
        (2**63, None),
        ("9999999999999999999", None),
        (-(2**63) - 1, None),
        (1e300, None),
    ],
)
def test_integer_forms(raw: object, expected: int | None) -> None:
    """Numbers sent as strings read as ints; only ASCII digits count, only 64 bits fit (what
    the state store can hold), and nothing crashes."""
    assert parse_account({"id": 1, "client_id": raw}).client_id == expected


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


# -- property: any mix of field forms parses or fails with PayloadError --------------------

CANARIES = ("CANARY-pw-5b1f0e", "CANARY-imap-9c2e7d")
CANARY_FORMS = (*CANARIES, *(base64.b64encode(c.encode()).decode() for c in CANARIES))

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_numbers = st.one_of(
    st.integers(),
    st.integers().map(str),
    st.integers().map(lambda i: f" {i} "),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "-", "--5", "1.0", "0x10", "²", "٣", "1e3", "９"]),
    _json,
)
_flags = st.one_of(
    st.booleans(), st.sampled_from(["true", "false", "TRUE", " 0", "1", "yes", ""]), _json
)
_reputations = st.one_of(
    st.sampled_from(["95%", "95", " 80 % ", "100", "", "n/a", "%", "1e400", "-0"]),
    st.integers().map(lambda i: f"{i}%"),
    st.integers(min_value=-(10**400), max_value=10**400),
    _numbers,
)
_texts = st.one_of(st.text(max_size=40), _json)
_credentials = st.sampled_from(CANARIES)
_warmup = st.one_of(
    _json,
    st.fixed_dictionaries(
        {},
        optional={
            "status": _texts,
            "warmup_reputation": _reputations,
            "is_warmup_blocked": _flags,
            "blocked_reason": _texts,
            "password": _credentials,
            "total_sent_count": _numbers,
        },
    ),
)
_rows = st.fixed_dictionaries(
    {"password": _credentials, "imap_password": _credentials},
    optional={
        "id": _numbers,
        "from_email": _texts,
        "username": _texts,
        "from_name": _texts,
        "type": _texts,
        "client_id": _numbers,
        "is_smtp_success": _flags,
        "smtp_failure_error": _texts,
        "is_imap_success": _flags,
        "imap_failure_error": _texts,
        "daily_sent_count": _numbers,
        "message_per_day": _numbers,
        "warmup_details": _warmup,
        "smtp_password": _credentials,
        "smart_sender_flag": _json,
    },
)


def _leaks(text: str) -> bool:
    return any(canary in text for canary in CANARY_FORMS)


@given(_rows)
def test_any_mix_of_field_forms_parses_or_fails_cleanly(raw: dict[str, object]) -> None:
    """Whatever forms the fields take, parsing gives a sane Account or a PayloadError, and
    neither carries a password."""
    try:
        account = parse_account(raw)
    except PayloadError as error:
        assert not _leaks(str(error))
        return
    assert not _leaks(repr(account))
    assert isinstance(account.id, int) and account.id >= 0
    assert isinstance(account.email, str) and isinstance(account.esp, str)
    if account.warmup is not None and account.warmup.reputation is not None:
        assert 0.0 <= account.warmup.reputation <= 1.0
    for count in (account.client_id, account.daily_sent_count, account.message_per_day):
        assert count is None or type(count) is int


@given(st.one_of(_json, st.lists(st.one_of(_rows, _json), max_size=4)))
def test_any_list_body_parses_or_fails_cleanly(body: object) -> None:
    """A list answer of any shape parses row by row or fails with a PayloadError."""
    try:
        accounts = parse_accounts(body)
    except PayloadError as error:
        assert not _leaks(str(error))
        return
    assert isinstance(body, list) and len(accounts) == len(body)
    assert not _leaks(repr(accounts))


# -- property: the fast decoder and the tolerant parser give the same answer -----------------


def _tolerant(body: bytes) -> list[Account] | str:
    try:
        return parse_accounts(json.loads(body))
    except ValueError as error:  # PayloadError or not JSON
        return f"{type(error).__name__}: {error}"


def _decoded(body: bytes) -> list[Account] | str:
    try:
        return decode_accounts(body)
    except ValueError as error:
        return f"{type(error).__name__}: {error}"


@given(
    st.one_of(_json, st.lists(st.one_of(_rows, _rows, _json), max_size=4)),
    st.booleans(),
)
def test_fast_and_tolerant_decoding_agree(body: object, ascii_only: bool) -> None:
    """Any body decodes to the accounts (or the error) of the tolerant parser; when the fast
    path answers at all, its answer is the tolerant one."""
    data = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    expected = _tolerant(data)
    assert _decoded(data) == expected
    fast = decode_common(data)
    if fast is not None:
        assert fast == expected


# Rows whose read fields are all JSON scalars: the fast path's whole domain.
_plain = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.text(" \t\n\u00a0\u2003x", max_size=4),  # whitespace only, or around a letter
    st.text(max_size=600),
    st.sampled_from(["95%", " 80 % ", "100", "true", "FALSE", " 1", "0", "12", "-3", "١٢"]),
)
_PLAIN_FIELDS = (
    *("from_email", "username", "from_name", "type", "client_id", "daily_sent_count"),
    *("is_smtp_success", "smtp_failure_error", "is_imap_success", "imap_failure_error"),
    *("message_per_day", "extra"),
)
_PLAIN_WARMUP = ("status", "warmup_reputation", "is_warmup_blocked", "blocked_reason")
_plain_rows = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=0) | st.integers(0, 99).map(str) | _plain,
        "password": _credentials,
    },
    optional={
        **{name: _plain for name in _PLAIN_FIELDS},
        "warmup_details": st.none()
        | st.fixed_dictionaries({}, optional={name: _plain for name in _PLAIN_WARMUP}),
    },
)


@given(st.lists(_plain_rows, max_size=4), st.booleans())
def test_fast_path_answers_for_scalar_rows_as_the_tolerant_parser(
    body: list[dict[str, object]], ascii_only: bool
) -> None:
    """Rows of scalar fields take the fast path whenever they parse at all, with the tolerant
    parser's result (text trimmed and cut, numbers and flags from strings, reputation forms)."""
    data = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    expected = _tolerant(data)
    fast = decode_common(data)
    if isinstance(expected, str):
        assert fast is None  # a row without a usable id: the tolerant path words the error
    else:
        assert fast == expected


def test_every_simulated_row_form_takes_the_fast_path() -> None:
    """The forms SmartLead sends (reputation as "95%", 95 or "100", numbers as strings,
    null warmup details, base64 credentials, extra fields) decode without the fallback."""
    fleet = Fleet(600, seed=5)
    body = b"[" + b",".join(fleet.list_row(i) for i in fleet.ids()) + b"]"
    for form in (b'"daily_sent_count": "', b'"warmup_reputation": "', b'"warmup_reputation": 9',
                 b'"warmup_details": null', b'"password": "'):  # fmt: skip
        assert form in body.replace(b'":"', b'": "').replace(b'":9', b'": 9')
    fast = decode_common(body)
    assert fast is not None and len(fast) == 600
    assert fast == parse_accounts(json.loads(body))


def test_equal_warmup_details_share_one_object() -> None:
    """Rows with the same warmup state hold one WarmupDetails between them, as the store's
    rows do once loaded; different states stay apart."""
    warmup = {"status": "active", "warmup_reputation": "98%", "blocked_reason": None}
    rows = [{"id": i, "from_email": f"b{i}@x.io", "warmup_details": dict(warmup)} for i in (1, 2)]
    rows.append({"id": 3, "warmup_details": {**warmup, "warmup_reputation": "97%"}})
    first, second, third = decode_accounts(json.dumps(rows).encode())
    assert first.warmup is second.warmup
    assert first.warmup is not None and first.warmup.status == "ACTIVE"
    assert third.warmup is not None and third.warmup.reputation == 0.97


def test_shared_warmup_details_are_bounded() -> None:
    """Values the API invents without end (block reasons) are not all kept."""
    made = [shared_warmup("ACTIVE", 0.5, True, f"reason {i}") for i in range(SHARED_WARMUPS + 10)]
    assert made[-1].blocked_reason == f"reason {SHARED_WARMUPS + 9}"
    assert len(models._WARMUPS) <= SHARED_WARMUPS


def test_warmup_values_equal_in_python_but_not_in_json_read_apart() -> None:
    """True, 1 and 1.0 are one dict key in Python; as warmup values they read differently,
    whichever came first."""
    forms: list[object] = [True, 1, 1.0, True]
    rows = [
        {"id": i, "warmup_details": {"status": v, "warmup_reputation": v}}
        for i, v in enumerate(forms)
    ]
    accounts = decode_accounts(json.dumps(rows).encode())
    read = [(a.warmup.status, a.warmup.reputation) for a in accounts if a.warmup]
    assert read == [(None, None), ("1", 0.01), ("1.0", 0.01), (None, None)]
