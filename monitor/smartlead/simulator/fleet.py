"""A seeded fleet of simulated mailboxes whose health changes over time.

Each mailbox carries the state SmartLead reports (SMTP, IMAP, warmup block, reputation) plus the
noise of real payloads (reputation written three ways, numbers as strings, ZOHO accounts).
Rows are serialised once and cached until the mailbox changes, so serving is cheap.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Condition = Literal["smtp", "imap", "blocked", "reputation"]
ReputationForm = Literal["percent", "number", "string", "missing"]

REPUTATION_LOW_BELOW = 80.0  # percent: the product's default threshold
LOW_REPUTATION = (40, 79)  # the range a mailbox falls into when its reputation drops
GOOD_REPUTATION = (85, 100)
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
# How often each way of writing reputation occurs: mostly "95%", sometimes 95 or "95".
_REPUTATION_FORMS: tuple[ReputationForm, ...] = (
    *("percent",) * 6,
    *("number",) * 2,
    "string",
    "missing",
)

SMTP_ERRORS = (
    "535 5.7.8 Username and Password not accepted. For more information, go to"
    " https://support.google.com/mail/?p=BadCredentials",
    "534-5.7.14 <https://accounts.google.com/signin/continue> Please log in with your web"
    " browser and then try again.",
    "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
    "connect ETIMEDOUT 142.250.102.108:587",
    "Invalid login: 535 Authentication Failed & <account locked>",
)
IMAP_ERRORS = (
    "AUTHENTICATIONFAILED Invalid credentials (Failure)",
    "IMAP connection timed out",
    "LOGIN failed. Application-specific password required",
    "Command Error. 12",
)
BLOCKED_REASONS = (
    "Warmup paused: high bounce rate detected",
    "Mailbox disconnected: SMTP/IMAP credentials invalid",
    "Blocked by provider: suspicious activity <spam complaints>",
)
_FIRST = ("john", "maria", "li", "aisha", "tom", "sofia", "omar", "emma", "raj", "nina")
_LAST = ("doe", "garcia", "chen", "khan", "smith", "rossi", "ali", "berg", "patel", "novak")
_DOMAINS = ("outreach-mail.io", "getleads.co", "trysales.net", "hellogrowth.com")
_ESPS: tuple[tuple[str, float, str, str], ...] = (
    # type, share, smtp host, imap host
    ("GMAIL", 0.45, "smtp.gmail.com", "imap.gmail.com"),
    ("OUTLOOK", 0.30, "smtp.office365.com", "outlook.office365.com"),
    ("SMTP", 0.20, "mail.privateemail.com", "mail.privateemail.com"),
    ("ZOHO", 0.05, "smtp.zoho.com", "imap.zoho.com"),
)


@dataclass(frozen=True, slots=True)
class Transitions:
    """Per-tick, per-mailbox probabilities of falling into and out of each problem."""

    smtp_fail: float = 0.01
    smtp_recover: float = 0.3
    imap_fail: float = 0.01
    imap_recover: float = 0.3
    block: float = 0.005
    unblock: float = 0.2
    reputation_drop: float = 0.01
    reputation_recover: float = 0.2


@dataclass(frozen=True, slots=True)
class InitialMix:
    """Share of the fleet already in each problem when it is generated."""

    smtp_failing: float = 0.03
    imap_failing: float = 0.02
    blocked: float = 0.02
    low_reputation: float = 0.05


@dataclass(frozen=True, slots=True)
class Change:
    """One transition applied by `Fleet.tick`: `failing` is the new state of `condition`."""

    account_id: int
    condition: Condition
    failing: bool


@dataclass(slots=True)
class Mailbox:
    """One simulated account; change it only through `Fleet` so cached rows stay true."""

    id: int
    email: str
    from_name: str
    esp: str
    smtp_host: str
    imap_host: str
    client_id: int | None
    campaign_count: int
    message_per_day: int
    daily_sent: int
    created_at: datetime
    updated_at: datetime
    password: str
    imap_password: str
    smtp_ok: bool = True
    smtp_error: str | None = None
    imap_ok: bool = True
    imap_error: str | None = None
    warmup_status: str | None = "ACTIVE"  # None: `warmup_details` is null
    reputation: float | None = 95.0  # percent
    reputation_form: ReputationForm = "percent"
    blocked: bool = False
    blocked_reason: str | None = None
    numbers_as_strings: bool = False  # some payloads send "50" for 50

    @property
    def in_use(self) -> bool:
        return self.campaign_count > 0

    @property
    def reputation_visible(self) -> bool:
        """Whether the payload shows a readable reputation at all."""
        return self.reputation is not None and self.reputation_form != "missing"

    @property
    def reputation_low(self) -> bool:
        """Low as the monitor would see it: readable and under the default threshold."""
        return (
            self.reputation_visible
            and self.reputation is not None
            and self.reputation < REPUTATION_LOW_BELOW
        )


class Fleet:
    """Mailboxes keyed by id, listed in id order; `version` changes with every mutation."""

    def __init__(
        self,
        size: int,
        seed: int = 1,
        *,
        transitions: Transitions = Transitions(),
        initial: InitialMix = InitialMix(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.transitions = transitions
        self.version = 0
        self._rng = random.Random(seed)
        self._now = now
        self._boxes: dict[int, Mailbox] = {}
        self._order: list[int] | None = None
        self._list_rows: dict[int, bytes] = {}
        next_id = 40_000 + self._rng.randrange(1000)
        for _ in range(size):
            self._boxes[next_id] = self._generate(next_id, initial)
            next_id += self._rng.randint(1, 7)

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._boxes)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._boxes

    def __iter__(self) -> Iterator[Mailbox]:
        """Mailboxes in id order (the order of the list endpoint); do not mutate them."""
        return (self._boxes[i] for i in self.ids())

    def ids(self) -> list[int]:
        if self._order is None:
            self._order = sorted(self._boxes)
        return self._order

    def mailbox(self, account_id: int) -> Mailbox:
        """A copy of one mailbox's state (KeyError for unknown ids)."""
        return replace(self._boxes[account_id])

    def get(self, account_id: int) -> Mailbox | None:
        """The live mailbox for the server (no copy); None for unknown ids."""
        return self._boxes.get(account_id)

    def list_row(self, account_id: int) -> bytes:
        """The account as the list endpoint serialises it, cached until it changes."""
        row = self._list_rows.get(account_id)
        if row is None:
            row = json.dumps(list_payload(self._boxes[account_id])).encode()
            self._list_rows[account_id] = row
        return row

    # -- changing --------------------------------------------------------------------------

    def tick(self) -> list[Change]:
        """One step of time: every mailbox may fall into or recover from each problem."""
        t, rng, changes = self.transitions, self._rng, list[Change]()
        for box in list(self._boxes.values()):
            if rng.random() < (t.smtp_recover if not box.smtp_ok else t.smtp_fail):
                self.set_smtp(box.id, ok=not box.smtp_ok)
                changes.append(Change(box.id, "smtp", not box.smtp_ok))
            if rng.random() < (t.imap_recover if not box.imap_ok else t.imap_fail):
                self.set_imap(box.id, ok=not box.imap_ok)
                changes.append(Change(box.id, "imap", not box.imap_ok))
            if box.warmup_status is not None and rng.random() < (
                t.unblock if box.blocked else t.block
            ):
                self.set_blocked(box.id, not box.blocked)
                changes.append(Change(box.id, "blocked", box.blocked))
            if (
                box.warmup_status == "ACTIVE"
                and box.reputation_visible
                and rng.random()
                < (t.reputation_recover if box.reputation_low else t.reputation_drop)
            ):
                low = not box.reputation_low
                self.set_reputation(box.id, self._reputation(low=low))
                changes.append(Change(box.id, "reputation", low))
        return changes

    def set_smtp(self, account_id: int, ok: bool, error: str | None = None) -> None:
        box = self._touch(account_id)
        box.smtp_ok = ok
        box.smtp_error = None if ok else (error or self._rng.choice(SMTP_ERRORS))

    def set_imap(self, account_id: int, ok: bool, error: str | None = None) -> None:
        box = self._touch(account_id)
        box.imap_ok = ok
        box.imap_error = None if ok else (error or self._rng.choice(IMAP_ERRORS))

    def set_blocked(self, account_id: int, blocked: bool, reason: str | None = None) -> None:
        box = self._touch(account_id)
        box.blocked = blocked
        box.blocked_reason = (reason or self._rng.choice(BLOCKED_REASONS)) if blocked else None

    def set_reputation(
        self, account_id: int, percent: float | None, form: ReputationForm | None = None
    ) -> None:
        box = self._touch(account_id)
        box.reputation = percent
        if form is not None:
            box.reputation_form = form

    def set_warmup_status(self, account_id: int, status: str | None) -> None:
        """`ACTIVE`, `INACTIVE`, or None for a null `warmup_details`."""
        self._touch(account_id).warmup_status = status

    def set_campaigns(self, account_id: int, count: int) -> None:
        self._touch(account_id).campaign_count = count

    def set_client(self, account_id: int, client_id: int | None) -> None:
        self._touch(account_id).client_id = client_id

    def set_passwords(self, account_id: int, password: str, imap_password: str) -> None:
        box = self._touch(account_id)
        box.password, box.imap_password = password, imap_password

    def add_account(self, account_id: int | None = None) -> int:
        """A new healthy mailbox; by default with the next free id (the end of the list)."""
        if account_id is None:
            account_id = (max(self._boxes) + 1) if self._boxes else 40_000
        if account_id in self._boxes:
            raise ValueError(f"account {account_id} exists")
        self._boxes[account_id] = self._generate(account_id, InitialMix(0, 0, 0, 0))
        self._order = None
        self.version += 1
        return account_id

    def remove_account(self, account_id: int) -> None:
        del self._boxes[account_id]
        self._list_rows.pop(account_id, None)
        self._order = None
        self.version += 1

    def _touch(self, account_id: int) -> Mailbox:
        box = self._boxes[account_id]
        box.updated_at = self._now()
        self._list_rows.pop(account_id, None)
        self.version += 1
        return box

    # -- generating ------------------------------------------------------------------------

    def _generate(self, account_id: int, mix: InitialMix) -> Mailbox:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        esp, smtp_host, imap_host = _pick_esp(rng.random())
        per_day = rng.choice((20, 30, 40, 50, 60))
        created = _EPOCH + timedelta(minutes=rng.randrange(300 * 24 * 60))
        warmup = rng.random()
        box = Mailbox(
            id=account_id,
            email=f"{first}.{last}{account_id % 1000}@{rng.choice(_DOMAINS)}",
            from_name=f"{first.title()} {last.title()}",
            esp=esp,
            smtp_host=smtp_host,
            imap_host=imap_host,
            client_id=rng.choice((None, None, 11, 12, 27)),
            campaign_count=rng.choice((0, 0, 1, 2, 3, 5)),
            message_per_day=per_day,
            daily_sent=rng.randint(0, per_day),
            created_at=created,
            updated_at=created + timedelta(days=rng.randint(0, 30)),
            password=_secret(rng),
            imap_password=_secret(rng),
            warmup_status="ACTIVE" if warmup < 0.8 else "INACTIVE" if warmup < 0.95 else None,
            reputation_form=rng.choice(_REPUTATION_FORMS),
            numbers_as_strings=rng.random() < 0.1,
        )
        box.reputation = self._reputation(low=rng.random() < mix.low_reputation)
        if rng.random() < mix.smtp_failing:
            box.smtp_ok, box.smtp_error = False, rng.choice(SMTP_ERRORS)
        if rng.random() < mix.imap_failing:
            box.imap_ok, box.imap_error = False, rng.choice(IMAP_ERRORS)
        if box.warmup_status is not None and rng.random() < mix.blocked:
            box.blocked, box.blocked_reason = True, rng.choice(BLOCKED_REASONS)
        return box

    def _reputation(self, *, low: bool) -> float:
        lo, hi = LOW_REPUTATION if low else GOOD_REPUTATION
        return float(self._rng.randint(lo, hi))


def list_payload(box: Mailbox) -> dict[str, Any]:
    """A row of `GET /api/v1/email-accounts/`: base64 passwords, no `is_warmup_blocked`."""
    return _payload(box, by_id=False)


def detail_payload(box: Mailbox) -> dict[str, Any]:
    """`GET /api/v1/email-accounts/{id}/`: plain password, with `is_warmup_blocked`."""
    return _payload(box, by_id=True)


def _payload(box: Mailbox, *, by_id: bool) -> dict[str, Any]:
    def number(value: int) -> int | str:
        return str(value) if box.numbers_as_strings else value

    def secret(value: str) -> str:
        return value if by_id else base64.b64encode(value.encode()).decode()

    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    warmup: dict[str, Any] | None = None
    if box.warmup_status is not None:
        warmup = {
            "status": box.warmup_status,
            "total_sent_count": number(box.id % 500 + 50),
            "total_spam_count": number(box.id % 4),
            "warmup_reputation": _reputation_text(box),
            "warmup_key_id": box.id * 3 + 1,
            "warmup_created_at": box.created_at.strftime(stamp),
            "reply_rate": box.id % 30,
            "blocked_reason": box.blocked_reason,
        }
        if by_id:
            warmup["is_warmup_blocked"] = box.blocked
    row: dict[str, Any] = {
        "id": box.id,
        "created_at": box.created_at.strftime(stamp),
        "updated_at": box.updated_at.strftime(stamp),
        "user_id": 456,
        "from_name": box.from_name,
        "from_email": box.email,
        "minTimeToWaitInMins": 5,
        "username": box.email,
        "password": secret(box.password),
        "smtp_host": box.smtp_host,
        "smtp_port": number(587),
        "smtp_port_type": "TLS",
        "message_per_day": number(box.message_per_day),
        "different_reply_to_address": None,
        "is_different_imap_account": False,
        "imap_username": box.email,
        "imap_password": secret(box.imap_password),
        "imap_host": box.imap_host,
        "imap_port": number(993),
        "imap_port_type": "SSL",
        "signature": f"<p>Best regards,<br>{box.from_name}</p>",
        "custom_tracking_domain": None,
        "bcc_email": None,
        "is_smtp_success": box.smtp_ok,
        "is_imap_success": box.imap_ok,
        "smtp_failure_error": box.smtp_error,
        "imap_failure_error": box.imap_error,
        "type": box.esp,
        "daily_sent_count": number(box.daily_sent),
        "client_id": box.client_id,
        "campaign_count": number(box.campaign_count),
        "warmup_details": warmup,
    }
    if box.id % 5 == 0:
        row["smart_sender_flag"] = False  # an undocumented extra field, as seen in the wild
    return row


def _reputation_text(box: Mailbox) -> object:
    if box.reputation is None or box.reputation_form == "missing":
        return None if box.reputation is None or box.id % 2 else ""
    whole = round(box.reputation)
    if box.reputation_form == "percent":
        return f"{whole}%"
    if box.reputation_form == "string":
        return str(whole)
    return whole


def _pick_esp(roll: float) -> tuple[str, str, str]:
    for esp, share, smtp_host, imap_host in _ESPS:
        if roll < share:
            return esp, smtp_host, imap_host
        roll -= share
    return _ESPS[0][0], _ESPS[0][2], _ESPS[0][3]


def _secret(rng: random.Random) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(rng.choice(alphabet) for _ in range(16))
