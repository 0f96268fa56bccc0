"""Notifiers from settings: one object per configured notifier that has somewhere to send."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import aiohttp

from monitor.config import (
    AlertmanagerSettings,
    ConsoleSettings,
    NotifierSettings,
    SlackSettings,
    WebhookSettings,
)
from monitor.notify import Notifier
from monitor.notify.alertmanager import AlertmanagerNotifier
from monitor.notify.console import ConsoleNotifier
from monitor.notify.slack import SlackNotifier, SlackPacer
from monitor.notify.webhook import WebhookNotifier


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_notifiers(
    settings: Sequence[NotifierSettings],
    session: aiohttp.ClientSession,
    *,
    generator_url: str,
    ends_in: timedelta,
    clock: Callable[[], datetime] = _utc_now,
    timeout: float = 10.0,
    pacer: SlackPacer | None = None,
) -> list[Notifier]:
    """Every notifier with a URL (an empty `${VAR}` turns one off), in configured order.

    Slack notifiers share one pacer, so two of them on the same webhook still send at most
    one message per second to it.
    """
    pacer = pacer or SlackPacer()
    built: list[Notifier] = []
    for item in settings:
        match item:
            case SlackSettings(url=url) if url and url.get_secret_value().strip():
                built.append(
                    SlackNotifier(
                        item.name,
                        url.get_secret_value().strip(),
                        session,
                        clock=clock,
                        pacer=pacer,
                        timeout=timeout,
                    )
                )
            case WebhookSettings(url=url) if url and url.get_secret_value().strip():
                secret = item.secret.get_secret_value() if item.secret else None
                built.append(
                    WebhookNotifier(
                        item.name,
                        url.get_secret_value().strip(),
                        session,
                        secret=secret or None,
                        clock=clock,
                        timeout=timeout,
                    )
                )
            case AlertmanagerSettings(url=url) if url and url.strip():
                built.append(
                    AlertmanagerNotifier(
                        item.name,
                        url.strip(),
                        session,
                        ends_in=ends_in,
                        generator_url=generator_url,
                        clock=clock,
                        timeout=timeout,
                    )
                )
            case ConsoleSettings():
                built.append(ConsoleNotifier(item.name))
    return built


def reposts_open_issues(notifier: Notifier) -> bool:
    """Alertmanager forgets alerts that are not re-sent, so it gets every open issue."""
    return notifier.type == "alertmanager"
