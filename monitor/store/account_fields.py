"""How a snapshot row keeps an account: the `fields` blob of the `accounts` table.

Since schema version 2 the blob is the account as a msgpack array, field by field in the
order of `Account` (its id included, checked against the row's on load). msgspec writes it
from the struct in C, a third of the CPU of the marshal tuple of version 1, which was built
field by field in Python; a first inventory of 100,000 accounts writes every one of them.
"""

from __future__ import annotations

import marshal
import sys

import msgspec

from monitor.smartlead.models import Account, shared_warmup

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Account)
_V1_FIELDS = 11


def encode(account: Account) -> bytearray:
    """The blob of an account. A bytearray binds on the sqlite3 driver's fast path; bytes goes
    through its adapter lookup first."""
    blob = bytearray()
    _ENCODER.encode_into(account, blob)
    return blob


def decode(account_id: int, blob: bytes) -> Account:
    """The account a row holds; ValueError for a blob this store did not write."""
    try:
        a = _DECODER.decode(blob)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise ValueError(f"account {account_id}: stored fields are unreadable ({exc})") from None
    if a.id != account_id:
        raise ValueError(f"account {account_id}: stored fields belong to account {a.id}")
    w = a.warmup
    if w is not None:  # equal details share one object, as decoded API rows do
        w = shared_warmup(w.status, w.reputation, w.is_blocked, w.blocked_reason)
    return msgspec.structs.replace(a, esp=sys.intern(a.esp), warmup=w)


def from_version_1(account_id: int, blob: bytes) -> bytes:
    """Migration 2: a version-1 blob (a marshal tuple of the fields after the id) re-encoded."""
    f = marshal.loads(blob)  # noqa: S302 - only this store wrote these blobs
    if type(f) is not tuple or len(f) != _V1_FIELDS:
        raise ValueError(f"account {account_id}: stored fields have an unknown layout")
    w = f[10]
    warmup = None if w is None else shared_warmup(w[0], w[1], w[2], w[3])
    account = Account(
        account_id, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], warmup
    )
    return bytes(encode(account))
