"""The Notifications docs: their config examples load, and the signature snippet verifies."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from monitor.config import parse_settings
from monitor.core.model import AccountRef, IssueKind
from monitor.core.routing import Target, plan
from monitor.notify.factory import build_notifiers
from monitor.notify.webhook import render_webhook, sign_webhook

from .events import NOW, make_event, mixed_events

README = Path(__file__).parents[2] / "README.md"
ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
    "WEBHOOK_URL": "https://automation.example/in",
    "WEBHOOK_SECRET": "whsec_c2VjcmV0LWJ5dGVz",
    "ALERTMANAGER_URL": "http://alertmanager:9093",
}


def section() -> str:
    """The README's Notifications section: from its heading to the next one of that level."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Notifications\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), re.S)


def documented_settings() -> Any:
    notifiers, routes = (b for b in blocks("yaml") if "notifiers:" in b)
    workspace = "workspaces:\n  - name: default\n    api_key: k\n"
    return parse_settings(workspace + notifiers + routes, ENV)


async def test_documented_config_loads_and_builds() -> None:
    """The notifier, route and silence examples are valid config; unset URLs are off."""
    settings = documented_settings()
    async with aiohttp.ClientSession() as session:
        built = build_notifiers(
            settings.notifiers, session, generator_url="", ends_in=timedelta(minutes=15)
        )
    names = [n.name for n in built]
    assert names == ["slack-ops", "automation", "alertmanager", "console"]
    assert len(settings.routes) == 3 and len(settings.silences) == 2


def test_documented_routes_do_what_the_text_says() -> None:
    """Client 42 reaches its own channel and ours; silences hold back retired mailboxes."""
    settings = documented_settings()
    targets = [Target(n.name) for n in settings.notifiers]
    acme = AccountRef(1, "a@acme.example", "", "GMAIL", 42)
    retired = AccountRef(2, "x@old-domain.example", "", "GMAIL", None)
    events = [
        make_event(IssueKind.SMTP_FAILED, acme),
        make_event(IssueKind.SMTP_FAILED, retired),
        make_event(IssueKind.API_AUTH_FAILED, None),
    ]
    messages = plan(events, [], targets, settings.routes, settings.silences, NOW, "c")
    got = {m.notifier: [e.account.id if e.account else None for e in m.events] for m in messages}
    assert got == {
        "slack-acme": [1],
        "slack-ops": [1, None],
        "automation": [1],
        "alertmanager": [1, None],
    }


def test_documented_verifier_accepts_our_signature() -> None:
    """The Python snippet in the docs verifies a real signed body and rejects a tampered one."""
    (snippet,) = blocks("python")
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 - the documented snippet is the thing under test
    verify = namespace["verify"]
    body = render_webhook(mixed_events(), NOW)
    stamp = int(time.time())
    headers: Mapping[str, str] = sign_webhook(ENV["WEBHOOK_SECRET"], "msg-1", stamp, body)
    assert verify(ENV["WEBHOOK_SECRET"], headers, body)
    assert not verify(ENV["WEBHOOK_SECRET"], headers, body[:-1] + b" ")
    assert verify("plain secret", sign_webhook("plain secret", "m", stamp, body), body)
