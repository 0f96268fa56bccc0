"""Slack incoming webhook: one Block Kit message per group of events, paced per webhook.

Everything that comes from the SmartLead API (emails, names, error texts) is escaped for
mrkdwn and sent with `verbatim` on, so a mailbox error can neither ping `<!channel>` nor
dress up a link.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from monitor.core.model import Event, IssueKind, ResolveReason, Status
from monitor.notify import DeliveryResult
from monitor.notify.post import deliver
from monitor.notify.text import KIND_TITLES, clip, detail_text, duration_text, one_line, when_text

MAX_BLOCKS = 50  # Slack refuses a message with more
MAX_SECTION_TEXT = 3000  # per section text object
MAX_HEADER_TEXT = 150  # header blocks are plain text, short
MIN_INTERVAL = 1.0  # seconds between two messages to one webhook (Slack's stated limit)

_ICONS = {"firing": ":red_circle:", "reminder": ":bell:", "resolved": ":large_green_circle:"}

# Budgets (characters after escaping) that keep one event line under MAX_SECTION_TEXT.
_EMAIL_BUDGET = 320
_NAME_BUDGET = 160
_SHORT_BUDGET = 80
_ERROR_BUDGET = 1800


def escape(text: str) -> str:
    """Slack's three control characters as entities: `<!channel>` becomes inert text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_clipped(text: str, budget: int) -> str:
    """Escape and cut to at most `budget` characters without splitting an entity."""
    escaped = escape(text)
    if len(escaped) <= budget:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = escape(char)
        if used + len(piece) > budget - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def render_slack(events: Sequence[Event], now: datetime) -> dict[str, Any]:
    """The webhook payload: header with counts, one section per event, at most 50 blocks."""
    summary = _summary(events)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": clip(summary, MAX_HEADER_TEXT), "emoji": True},
        },
        {"type": "context", "elements": [_mrkdwn(_kind_counts(events))]},
    ]
    room = MAX_BLOCKS - len(blocks)
    shown = events if len(events) <= room else events[: room - 1]
    several_workspaces = len({e.workspace for e in events}) > 1
    blocks += [
        {"type": "section", "text": _mrkdwn(event_line(e, now, several_workspaces))} for e in shown
    ]
    if len(shown) < len(events):
        blocks.append(
            {"type": "context", "elements": [_mrkdwn(f"+{len(events) - len(shown)} more")]}
        )
    return {
        "text": escape(summary),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def event_line(event: Event, now: datetime, show_workspace: bool = False) -> str:
    """One event in mrkdwn: who, what, the error, since when (and how long it was down)."""
    title = KIND_TITLES[event.kind]
    if event.status is Status.RESOLVED:
        icon, heading = _ICONS["resolved"], f"Resolved: {title}"
    elif event.reminder:
        icon, heading = _ICONS["reminder"], f"Reminder: {title}"
    else:
        icon, heading = _ICONS["firing"], title
    parts = [f"{icon} *{heading}*"]
    if event.account is None:
        parts.append(f"workspace {escape_clipped(event.workspace, _SHORT_BUDGET)}")
    else:
        ref = event.account
        who = escape_clipped(one_line(ref.email) or f"account {ref.id}", _EMAIL_BUDGET)
        if ref.from_name.strip():
            who += f" ({escape_clipped(one_line(ref.from_name), _NAME_BUDGET)})"
        parts.append(who)
        parts.append(f"client {ref.client_id}" if ref.client_id is not None else "no client")
        parts.append(escape_clipped(one_line(ref.esp), _SHORT_BUDGET))
        if show_workspace:
            parts.append(f"workspace {escape_clipped(event.workspace, _SHORT_BUDGET)}")
    error = escape_clipped(detail_text(event), _ERROR_BUDGET)
    text = f"{' · '.join(parts)}\n>{error}\n{_timing(event, now)}"
    return _fit_section(text)


def _fit_section(text: str) -> str:
    """A last guard on an already escaped line: never over the section limit."""
    if len(text) <= MAX_SECTION_TEXT:
        return text
    cut = text[: MAX_SECTION_TEXT - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _timing(event: Event, now: datetime) -> str:
    since = when_text(event.started_at)
    if event.status is Status.RESOLVED:
        ended = event.resolved_at or now
        down = duration_text((ended - event.started_at).total_seconds())
        reason = event.reason or ResolveReason.RECOVERED
        return f"was down {down} (since {since}) · reason: {reason}"
    lasting = duration_text((now - event.started_at).total_seconds())
    still = "still failing" if event.reminder else "failing"
    return f"{still} since {since} ({lasting})"


def _summary(events: Sequence[Event]) -> str:
    firing = sum(1 for e in events if e.status is Status.FIRING)
    resolved = len(events) - firing
    reminders = sum(1 for e in events if e.reminder)
    counts = [f"{firing} firing"] if firing else []
    if reminders:
        counts[0] += f" ({reminders} reminder{'s' if reminders != 1 else ''})"
    if resolved:
        counts.append(f"{resolved} resolved")
    workspaces = sorted({e.workspace for e in events})
    where = workspaces[0] if len(workspaces) == 1 else f"{len(workspaces)} workspaces"
    return f"SmartLead {where}: {', '.join(counts) or 'no events'}"


def _kind_counts(events: Sequence[Event]) -> str:
    counts = Counter((e.kind, e.status) for e in events)
    lines = []
    for kind in IssueKind:
        per_status = [
            f"{counts[(kind, status)]} {status}" for status in Status if counts[(kind, status)]
        ]
        if per_status:
            lines.append(f"*{KIND_TITLES[kind]}*: {', '.join(per_status)}")
    return "  ·  ".join(lines) or "no events"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


class SlackPacer:
    """At most one message per `interval` seconds to each webhook URL, shared by notifiers.

    A slot is reserved before sleeping, so concurrent senders to one URL queue up in order.
    """

    def __init__(
        self,
        *,
        interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next_free: dict[str, float] = {}

    async def wait(self, url: str) -> None:
        now = self._clock()
        slot = max(now, self._next_free.get(url, now))
        self._next_free[url] = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)


class SlackNotifier:
    """Posts Block Kit messages to one incoming webhook URL."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pacer: SlackPacer | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.type = "slack"
        self._url = url
        self._session = session
        self._clock = clock
        self._pacer = pacer or SlackPacer()
        self._timeout = timeout

    async def send(self, message_id: str, events: Sequence[Event]) -> DeliveryResult:
        await self._pacer.wait(self._url)
        now = self._clock()
        body = json.dumps(render_slack(events, now), ensure_ascii=False).encode()
        return await deliver(
            self._session,
            self._url,
            body,
            {"Content-Type": "application/json"},
            notifier=self.name,
            request_timeout=self._timeout,
            now=now,
        )
