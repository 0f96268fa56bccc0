"""Alertmanager: one alert per event, POSTed to `{url}/api/v2/alerts`.

Alertmanager forgets an alert whose `endsAt` passes, so routing re-sends every open issue
each cycle with `endsAt` a few intervals ahead; a resolve is sent with `endsAt` = its time.
Grouping, silencing and paging then happen in the operator's own Alertmanager.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from monitor.core.model import Event, IssueKind, ResolveReason, Status, iso
from monitor.notify import DeliveryResult
from monitor.notify.post import deliver
from monitor.notify.text import KIND_TITLES, clip, detail_text, when_text

ALERT_NAMES: Mapping[IssueKind, str] = {
    IssueKind.SMTP_FAILED: "SmartLeadSmtpFailed",
    IssueKind.IMAP_FAILED: "SmartLeadImapFailed",
    IssueKind.WARMUP_BLOCKED: "SmartLeadWarmupBlocked",
    IssueKind.REPUTATION_LOW: "SmartLeadReputationLow",
    IssueKind.API_AUTH_FAILED: "SmartLeadApiAuthFailed",
    IssueKind.API_UNAVAILABLE: "SmartLeadApiUnavailable",
}

SEVERITIES: Mapping[IssueKind, str] = {
    IssueKind.SMTP_FAILED: "critical",
    IssueKind.IMAP_FAILED: "critical",
    IssueKind.API_AUTH_FAILED: "critical",
    IssueKind.API_UNAVAILABLE: "critical",
    IssueKind.WARMUP_BLOCKED: "warning",
    IssueKind.REPUTATION_LOW: "warning",
}

MAX_ANNOTATION = 1000  # annotations end up in pages and mails; provider texts are unbounded


def render_alertmanager(
    events: Sequence[Event], now: datetime, *, ends_in: timedelta, generator_url: str
) -> list[dict[str, Any]]:
    """The `/api/v2/alerts` body: firing alerts end `ends_in` from now unless re-sent."""
    return [_alert(e, now, ends_in, generator_url) for e in events]


def alert_labels(event: Event) -> dict[str, str]:
    """The identity of an alert in Alertmanager: the same issue always has the same labels."""
    labels = {"alertname": ALERT_NAMES[event.kind], "workspace": event.workspace}
    if event.account is not None:
        ref = event.account
        labels |= {
            "account_id": str(ref.id),
            "email": ref.email,
            "esp": ref.esp,
            "client_id": str(ref.client_id) if ref.client_id is not None else "none",
        }
    labels["severity"] = SEVERITIES[event.kind]
    return labels


def _alert(event: Event, now: datetime, ends_in: timedelta, generator_url: str) -> dict[str, Any]:
    resolved = event.status is Status.RESOLVED
    ends_at = (event.resolved_at or now) if resolved else now + ends_in
    alert: dict[str, Any] = {
        "labels": alert_labels(event),
        "annotations": {"summary": _summary(event), "description": _description(event)},
        "startsAt": iso(event.started_at),
        "endsAt": iso(ends_at),
    }
    if generator_url:
        alert["generatorURL"] = generator_url
    return alert


def _summary(event: Event) -> str:
    title = KIND_TITLES[event.kind]
    if event.account is None:
        return f"{title} for SmartLead workspace {event.workspace}"
    ref = event.account
    return clip(f"{title}: {ref.email or f'account {ref.id}'} ({event.workspace})", 300)


def _description(event: Event) -> str:
    since = when_text(event.started_at)
    if event.status is Status.FIRING:
        return clip(f"{detail_text(event)}. Failing since {since}.", MAX_ANNOTATION)
    text = f"{detail_text(event)}. Failed from {since}"
    text += f" to {when_text(event.resolved_at)}." if event.resolved_at else "."
    if event.reason is ResolveReason.ACCOUNT_REMOVED:
        text += " Resolved because the account no longer exists in SmartLead."
    return clip(text, MAX_ANNOTATION)


class AlertmanagerNotifier:
    """POSTs alerts to one Alertmanager (or anything speaking its v2 API)."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        *,
        ends_in: timedelta,
        generator_url: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.type = "alertmanager"
        self._url = url.rstrip("/") + "/api/v2/alerts"
        self._session = session
        self._ends_in = ends_in
        self._generator_url = generator_url
        self._clock = clock
        self._timeout = timeout

    async def send(self, message_id: str, events: Sequence[Event]) -> DeliveryResult:
        now = self._clock()
        alerts = render_alertmanager(
            events, now, ends_in=self._ends_in, generator_url=self._generator_url
        )
        return await deliver(
            self._session,
            self._url,
            json.dumps(alerts, ensure_ascii=False).encode(),
            {"Content-Type": "application/json"},
            notifier=self.name,
            request_timeout=self._timeout,
            now=now,
        )
