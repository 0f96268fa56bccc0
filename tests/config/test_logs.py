"""Logging: JSON lines or console, ISO UTC times, and secrets scrubbed before any renderer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from monitor.config import LoggingSettings
from monitor.logs import Scrubber, configure_logging, reset_logging

from .helpers import CANARY_HOOK, CANARY_KEY, CANARY_SECRET

SECRETS = [CANARY_KEY, CANARY_HOOK, CANARY_SECRET]
HOOK_PATH = "/services/T0CANARY/B0CANARY/xoxCanaryToken42"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()


def configured(
    fmt: str | None = "json", level: str = "info", stream: io.StringIO | None = None
) -> io.StringIO:
    stream = io.StringIO() if stream is None else stream
    settings = LoggingSettings.model_validate({"level": level, "format": fmt})
    configure_logging(settings, secrets=SECRETS, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_capture_logs_with_the_scrubber() -> None:
    """Through the scrubber, a canary key in a URL, a kwarg, a nested dict or an object is gone."""

    class Url:
        def __str__(self) -> str:
            return f"https://server.smartlead.ai/api/v1/email-accounts/?api_key={CANARY_KEY}"

    with capture_logs(processors=[Scrubber(SECRETS)]) as logs:
        structlog.get_logger("t").info(
            "request",
            url=f"https://x/api/v1/email-accounts/?offset=0&api_key={CANARY_KEY}&limit=100",
            key=CANARY_KEY,
            detail={"errors": [f"bad key {CANARY_KEY}"], "n": 3},
            target=Url(),
            hook=CANARY_HOOK,
            path=HOOK_PATH,
        )
    (event,) = logs
    assert CANARY_KEY not in repr(logs)
    assert "xoxCanaryToken42" not in repr(logs)
    assert event["url"] == "https://x/api/v1/email-accounts/?offset=0&api_key=***&limit=100"
    assert event["key"] == "***"
    assert event["detail"] == {"errors": ["bad key ***"], "n": 3}
    assert event["target"] == "https://server.smartlead.ai/api/v1/email-accounts/?api_key=***"
    assert event["hook"] == "***"
    assert event["path"] == "***"


def test_api_key_query_values_are_redacted_without_knowing_the_key() -> None:
    """`api_key=...` in any string is redacted even when the key was never registered."""
    with capture_logs(processors=[Scrubber()]) as logs:
        structlog.get_logger("t").warning("failed", error="GET /x?api_key=unknown-key-99 -> 500")
    assert logs[0]["error"] == "GET /x?api_key=*** -> 500"


def test_short_secrets_are_not_scrubbed() -> None:
    """A secret shorter than six characters (the simulator's `demo` key) is left alone,
    otherwise ordinary words would be blanked."""
    with capture_logs(processors=[Scrubber(["demo"])]) as logs:
        structlog.get_logger("t").info("demo started")
    assert logs[0]["event"] == "demo started"


def test_json_lines_on_a_real_stream() -> None:
    """JSON format: one object per line with ISO UTC timestamp, level, logger and event."""
    stream = configured("json")
    structlog.get_logger("monitor.polls").info(
        "failure_poll", workspace="default", url=f"https://h/?api_key={CANARY_KEY}", pages=4
    )
    (line,) = lines(stream)
    assert list(line)[:4] == ["timestamp", "level", "logger", "event"]
    assert line["level"] == "info"
    assert line["logger"] == "monitor.polls"
    assert line["event"] == "failure_poll"
    assert line["timestamp"].endswith("Z")
    assert line["url"] == "https://h/?api_key=***"
    assert line["pages"] == 4
    assert CANARY_KEY not in stream.getvalue()


def test_stdlib_logs_go_through_the_same_pipeline() -> None:
    """aiohttp's and others' stdlib records come out as scrubbed JSON lines too."""
    stream = configured("json")
    logging.getLogger("aiohttp.client").warning("POST %s failed", CANARY_HOOK)
    (line,) = lines(stream)
    assert line["logger"] == "aiohttp.client"
    assert line["level"] == "warning"
    assert line["event"] == "POST *** failed"
    assert "timestamp" in line


def test_access_logs_are_quiet_at_info() -> None:
    """aiohttp access lines (one per scrape) are silenced below warning."""
    stream = configured("json")
    logging.getLogger("aiohttp.access").info("GET /metrics 200")
    logging.getLogger("aiohttp.access").warning("slow request")
    assert [line["event"] for line in lines(stream)] == ["slow request"]


def test_level_filters_structlog_and_stdlib() -> None:
    """At level warning, info lines from either API are dropped."""
    stream = configured("json", level="warning")
    structlog.get_logger("t").info("hidden")
    logging.getLogger("t").info("hidden too")
    structlog.get_logger("t").warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_debug_level_shows_debug_lines() -> None:
    """At level debug, debug lines appear."""
    stream = configured("json", level="debug")
    structlog.get_logger("t").debug("request", status=200)
    assert lines(stream)[0]["level"] == "debug"


def test_tracebacks_are_scrubbed_in_json() -> None:
    """An exception whose text carries the key is logged with the key replaced."""
    stream = configured("json")
    try:
        raise RuntimeError(f"GET https://h/?api_key={CANARY_KEY} failed with {CANARY_SECRET}")
    except RuntimeError:
        structlog.get_logger("t").exception("poll crashed")
    (line,) = lines(stream)
    assert "RuntimeError: GET https://h/?api_key=*** failed with ***" in line["exception"]
    assert CANARY_KEY not in stream.getvalue()
    assert CANARY_SECRET not in stream.getvalue()


def test_tracebacks_are_scrubbed_in_console() -> None:
    """The console renderer's traceback is scrubbed too, and shows no local variables."""
    stream = configured("console")
    try:
        secret_local = CANARY_SECRET
        raise ValueError(f"bad {secret_local}")
    except ValueError:
        structlog.get_logger("t").exception("crashed", key=CANARY_KEY)
    text = stream.getvalue()
    assert "ValueError: bad ***" in text
    assert "key=***" in text
    assert CANARY_KEY not in text
    assert CANARY_SECRET not in text


def test_format_auto_is_json_unless_a_tty() -> None:
    """No format given: JSON to a pipe, the console renderer to a terminal."""
    piped = configured(None)
    structlog.get_logger("t").info("hello")
    assert lines(piped)[0]["event"] == "hello"
    tty = configured(None, stream=Tty())
    structlog.get_logger("t").info("hello", key=CANARY_KEY)
    text = tty.getvalue()
    assert "hello" in text
    assert not text.lstrip().startswith("{")
    assert CANARY_KEY not in text


def test_configuring_twice_does_not_duplicate_lines() -> None:
    """Reconfiguring replaces the handler: each event is written once, to the new stream."""
    first = configured("json")
    second = configured("json")
    logging.getLogger("t").warning("once")
    structlog.get_logger("t").info("once too")
    assert first.getvalue() == ""
    assert [line["event"] for line in lines(second)] == ["once", "once too"]
