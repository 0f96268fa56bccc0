"""Plain words about events, shared by every notifier: titles, detail lines, durations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.core.model import Event, IssueKind

KIND_TITLES: Mapping[IssueKind, str] = {
    IssueKind.SMTP_FAILED: "SMTP failed",
    IssueKind.IMAP_FAILED: "IMAP failed",
    IssueKind.WARMUP_BLOCKED: "Warmup blocked",
    IssueKind.REPUTATION_LOW: "Reputation low",
    IssueKind.API_AUTH_FAILED: "API auth failed",
    IssueKind.API_UNAVAILABLE: "API unavailable",
}


def one_line(text: str) -> str:
    """Provider texts may carry newlines and runs of spaces; a notification line may not."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def detail_text(event: Event) -> str:
    """What went wrong, in one line, from the event's kind-specific detail."""
    detail = event.detail
    kind = event.kind
    if kind in (IssueKind.SMTP_FAILED, IssueKind.IMAP_FAILED):
        return _text(detail, "error") or "no error text given"
    if kind is IssueKind.WARMUP_BLOCKED:
        return _text(detail, "blocked_reason") or "no reason given"
    if kind is IssueKind.REPUTATION_LOW:
        reputation = _percent(detail.get("reputation"))
        threshold = _percent(detail.get("threshold"))
        under = f" (under {threshold})" if threshold else ""
        return f"warmup reputation {reputation or 'unknown'}{under}"
    status = detail.get("status")
    message = _text(detail, "message") or _text(detail, "error") or "no message given"
    if status in (None, "") or str(status) in message:
        return message
    return f"HTTP {status}: {message}"


def duration_text(seconds: float) -> str:
    """`45s`, `5m`, `1h 5m`, `2d 3h`: two units at most, as people read an outage."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def when_text(moment: datetime) -> str:
    """`2026-11-28 09:55 UTC`: a timestamp a reader does not have to parse."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _text(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    return one_line(str(value)) if value not in (None, "") else ""


def _percent(value: object) -> str:
    """Detail carries reputation and threshold as ratios (0.72)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value * 100:.0f}%"
