"""Senders against a loopback sink: answers, Retry-After, timeouts, pacing, no leaked URLs."""

from __future__ import annotations

import json
from datetime import timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from structlog.testing import capture_logs

from monitor.config import (
    AlertmanagerSettings,
    ConsoleSettings,
    NotifierSettings,
    SlackSettings,
    WebhookSettings,
)
from monitor.notify.alertmanager import AlertmanagerNotifier
from monitor.notify.console import ConsoleNotifier
from monitor.notify.factory import build_notifiers, reposts_open_issues
from monitor.notify.post import Answer, outcome, parse_retry_after
from monitor.notify.slack import SlackNotifier, SlackPacer
from monitor.notify.webhook import WebhookNotifier

from .events import NOW, mixed_events
from .fakes import FakeTime
from .sink import MakeSink, Reply

TOKEN_PATH = "/services/T0000/B0000/XXXXsecrettokenXXXX"
_SETTINGS: dict[str, type[NotifierSettings]] = {
    "slack": SlackSettings,
    "webhook": WebhookSettings,
    "alertmanager": AlertmanagerSettings,
    "console": ConsoleSettings,
}


def no_wait_pacer() -> SlackPacer:
    time = FakeTime()
    return SlackPacer(clock=time.clock, sleep=time.sleep)


@pytest.mark.parametrize(
    ("status", "ok", "permanent"),
    [
        (200, True, False),
        (204, True, False),
        (400, False, True),
        (413, False, True),
        (422, False, True),
        (401, False, False),
        (403, False, False),
        (404, False, False),
        (410, False, False),
        (408, False, False),
        (429, False, False),
        (500, False, False),
        (503, False, False),
        (302, False, False),
    ],
)
def test_answer_policy(status: int, ok: bool, permanent: bool) -> None:
    """Only a refusal of the message itself is permanent; misconfiguration is retried."""
    result = outcome(Answer(status), "https://hooks.example")
    assert (result.ok, result.permanent) == (ok, permanent)
    if not ok:
        assert result.error == f"HTTP {status} from https://hooks.example"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        (format_datetime(NOW + timedelta(seconds=10), usegmt=True), 10.0),
        (format_datetime(NOW - timedelta(seconds=10), usegmt=True), 0.0),
        ("-4", 0.0),
        ("999999", 3600.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    """Retry-After as seconds or HTTP date, clamped to [0, 1 h]; nonsense is ignored."""
    assert parse_retry_after(header, NOW) == seconds


async def test_slack_posts_block_kit(session: aiohttp.ClientSession, make_sink: MakeSink) -> None:
    """A 200 from Slack is a delivery; the request is the rendered Block Kit JSON."""
    sink = await make_sink()
    notifier = SlackNotifier(
        "team", sink.url_for(TOKEN_PATH), session, clock=lambda: NOW, pacer=no_wait_pacer()
    )
    result = await notifier.send("m1", mixed_events())
    assert result.ok
    (request,) = sink.received
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload["blocks"][0]["type"] == "header"
    assert "&lt;!channel&gt;" in json.dumps(payload)


@pytest.mark.parametrize(
    ("status", "body", "permanent"),
    [
        (400, "invalid_payload", True),
        (400, "no_text", True),
        (404, "channel_not_found", False),
        (410, "channel_is_archived", False),
        (403, "action_prohibited", False),
    ],
)
async def test_slack_error_bodies_are_named_without_the_url(
    session: aiohttp.ClientSession,
    make_sink: MakeSink,
    status: int,
    body: str,
    permanent: bool,
) -> None:
    """Slack's plain-text errors are logged and returned with the notifier name, never the URL."""
    sink = await make_sink()
    sink.script(Reply(status, body))
    notifier = SlackNotifier("team", sink.url_for(TOKEN_PATH), session, pacer=no_wait_pacer())
    with capture_logs() as logs:
        result = await notifier.send("m1", mixed_events())
    assert not result.ok and result.permanent is permanent
    assert result.error == f"HTTP {status} {body} from {sink.url}"
    (line,) = logs
    assert line["log_level"] == "error"
    assert line["notifier"] == "team" and line["receiver_error"] == body
    assert "secrettoken" not in repr(logs) + repr(result)


async def test_slack_429_reports_retry_after(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Slack's 429 comes back as a retryable failure carrying Retry-After."""
    sink = await make_sink()
    sink.script(Reply(429, "rate_limited", {"Retry-After": "2"}))
    notifier = SlackNotifier("team", sink.url_for(TOKEN_PATH), session, pacer=no_wait_pacer())
    result = await notifier.send("m1", mixed_events())
    assert (result.ok, result.permanent, result.retry_after) == (False, False, 2.0)


async def test_slack_pacing_one_message_per_second_per_url(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Three messages to one webhook wait 1 s apart; another webhook is not held back."""
    sink = await make_sink()
    time = FakeTime()
    pacer = SlackPacer(clock=time.clock, sleep=time.sleep)
    first = SlackNotifier("a", sink.url_for("/one"), session, pacer=pacer)
    same_url = SlackNotifier("b", sink.url_for("/one"), session, pacer=pacer)
    other = SlackNotifier("c", sink.url_for("/two"), session, pacer=pacer)
    for notifier in (first, same_url, first, other):
        assert (await notifier.send("m", mixed_events()[:1])).ok
    assert time.sleeps == [1.0, 1.0]
    assert [r.path for r in sink.received] == ["/one", "/one", "/one", "/two"]


async def test_pacer_spaces_messages_that_arrive_slowly_only_when_needed() -> None:
    """A message more than a second after the last one goes out at once."""
    time = FakeTime()
    pacer = SlackPacer(clock=time.clock, sleep=time.sleep)
    await pacer.wait("u")
    time.now += 0.25
    await pacer.wait("u")
    time.now += 5
    await pacer.wait("u")
    assert time.sleeps == [0.75]


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_webhook_5xx_is_retryable(
    session: aiohttp.ClientSession, make_sink: MakeSink, status: int
) -> None:
    """Server errors are retried; no permanence, Retry-After passed on when given."""
    sink = await make_sink()
    sink.script(Reply(status, "<html>oops</html>", {"Retry-After": "30"}))
    notifier = WebhookNotifier("hook", sink.url_for("/hook"), session)
    result = await notifier.send("m", mixed_events())
    assert (result.ok, result.permanent, result.retry_after) == (False, False, 30.0)
    assert result.error == f"HTTP {status} from {sink.url}"


async def test_webhook_misconfiguration_is_kept_and_flagged(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A 404 is retried (not dropped) and logged as an error; the echoed path is never kept."""
    sink = await make_sink()
    sink.script(Reply(404, f"Cannot POST {TOKEN_PATH}"))
    notifier = WebhookNotifier("hook", sink.url_for(TOKEN_PATH), session)
    with capture_logs() as logs:
        result = await notifier.send("m", mixed_events())
    assert not result.ok and not result.permanent
    assert [line["log_level"] for line in logs] == ["error"]
    assert "check this notifier" in logs[0]["event"]
    assert "secrettoken" not in repr(logs) + repr(result)


async def test_webhook_timeout_is_retryable(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """A receiver that never answers times out as a retryable failure naming only the origin."""
    sink = await make_sink()
    sink.script(Reply(hold=True))
    notifier = WebhookNotifier("hook", sink.url_for(TOKEN_PATH), session, timeout=0.2)
    result = await notifier.send("m", mixed_events())
    assert not result.ok and not result.permanent
    assert result.error == f"timeout after 0.2s posting to {sink.url}"


async def test_unreachable_receiver_is_retryable(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Connection refused is a retryable failure; the error names the origin, not the path."""
    sink = await make_sink()
    url = sink.url_for(TOKEN_PATH)
    await sink.close()
    result = await WebhookNotifier("hook", url, session).send("m", mixed_events())
    assert not result.ok and not result.permanent
    assert result.error is not None and result.error.endswith(f"posting to {sink.url}")
    assert "secrettoken" not in result.error


async def test_alertmanager_posts_to_v2_alerts(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """The alerts go to {url}/api/v2/alerts as a JSON list, one per event."""
    sink = await make_sink()
    notifier = AlertmanagerNotifier(
        "am", sink.url + "/", session, ends_in=timedelta(minutes=15), clock=lambda: NOW
    )
    assert (await notifier.send("m", mixed_events())).ok
    (request,) = sink.received
    assert request.path == "/api/v2/alerts"
    alerts = request.json()
    assert len(alerts) == len(mixed_events())
    assert alerts[0]["endsAt"] == "2026-11-28T10:15:00Z"


async def test_alertmanager_400_is_refused_message(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """Alertmanager rejecting the alerts as invalid is permanent: retrying cannot help."""
    sink = await make_sink()
    sink.script(Reply(400, '{"code":400,"message":"bad"}'))
    notifier = AlertmanagerNotifier("am", sink.url, session, ends_in=timedelta(minutes=1))
    result = await notifier.send("m", mixed_events())
    assert result.permanent and result.error == f"HTTP 400 from {sink.url}"


async def test_console_logs_one_line_per_event() -> None:
    """The console notifier logs each event's fields, firing as warnings, resolved as info."""
    events = mixed_events()
    with capture_logs() as logs:
        result = await ConsoleNotifier("console").send("m1", events)
    assert result.ok
    assert [line["event_id"] for line in logs] == [e.id for e in events]
    assert [line["log_level"] for line in logs] == [
        "warning" if e.status == "firing" else "info" for e in events
    ]
    assert logs[1]["email"] == "eve@client.example" and logs[1]["client_id"] == 7
    assert logs[1]["detail"] == {"error": "<!channel> <https://evil.example|x> & co"}
    assert logs[4]["reason"] == "recovered" and logs[4]["resolved_at"] == "2026-11-28T10:00:00Z"
    assert "email" not in logs[6] and logs[6]["kind"] == "api_auth_failed"


async def test_factory_builds_configured_notifiers_and_skips_empty_urls(
    session: aiohttp.ClientSession,
) -> None:
    """Empty URLs turn a notifier off; the rest are built in order with their types."""
    raw = [
        {"type": "slack", "name": "team", "url": "https://hooks.slack.com/services/x"},
        {"type": "slack", "name": "off", "url": ""},
        {"type": "webhook", "name": "hook", "url": "https://h.example/in", "secret": ""},
        {"type": "webhook", "name": "none"},
        {"type": "alertmanager", "name": "am", "url": "http://am:9093"},
        {"type": "alertmanager", "name": "am-off", "url": " "},
        {"type": "console", "name": "console"},
    ]
    settings = [_SETTINGS[item["type"]].model_validate(item) for item in raw]
    built = build_notifiers(
        settings, session, generator_url="http://m/api/v1/issues", ends_in=timedelta(minutes=15)
    )
    assert [(n.name, n.type) for n in built] == [
        ("team", "slack"),
        ("hook", "webhook"),
        ("am", "alertmanager"),
        ("console", "console"),
    ]
    assert [reposts_open_issues(n) for n in built] == [False, False, True, False]
