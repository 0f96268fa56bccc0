"""Structured logs through structlog: JSON lines for machines, colours for people, and a
scrubber in front of every renderer so a secret that slips into an event never reaches output.

The standard library's loggers (aiohttp, APScheduler, asyncio) go through the same pipeline.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import structlog
from structlog.typing import EventDict, ExcInfo, Processor, WrappedLogger

from monitor.config import LoggingSettings
from monitor.redact import redact_url

MIN_SECRET_LENGTH = 6  # shorter "secrets" (a demo key) would blank out ordinary words
QUIET_LOGGERS = {"aiohttp.access": logging.WARNING, "apscheduler": logging.WARNING}
_META_KEYS = frozenset({"exc_info", "_record", "_from_structlog"})  # left for the formatter
_HANDLER_NAME = "smartlead-monitor"


class Scrubber:
    """A processor: `api_key=` values and every known secret become `***`, anywhere in the event.

    Values that are not plain data (exceptions, URLs, objects) are turned into scrubbed text,
    since their repr could carry a secret past the renderer.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            found.add(secret)
            if "://" in secret:  # a webhook URL: its path is the token, alone it is secret too
                parts = urlsplit(secret)
                found.add(parts.path + (f"?{parts.query}" if parts.query else ""))
        kept = sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, kept))) if kept else None

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        return {k: v if k in _META_KEYS else self.value(v) for k, v in event.items()}

    def text(self, text: str) -> str:
        text = redact_url(text)
        return self._secrets.sub("***", text) if self._secrets else text

    def value(self, value: Any, depth: int = 0) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(value)
        if depth < 8 and isinstance(value, Mapping):
            return {str(k): self.value(v, depth + 1) for k, v in value.items()}
        if depth < 8 and isinstance(value, list | tuple | set | frozenset):
            return [self.value(v, depth + 1) for v in value]
        return self.text(str(value))


def configure_logging(
    settings: LoggingSettings, *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to `stream` (stderr by default), scrubbed.

    JSON lines when the format is `json`, or when it is unset and the stream is not a TTY;
    the console renderer otherwise. Calling it again replaces the previous setup.
    """
    stream = sys.stderr if stream is None else stream
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    tty = bool(getattr(stream, "isatty", lambda: False)())
    scrubber = Scrubber(secrets)
    renderer: Processor
    if settings.format == "json" or (settings.format is None and not tty):
        renderer = structlog.processors.JSONRenderer()
        tail: list[Processor] = [
            structlog.processors.format_exc_info,
            scrubber,
            _leading_keys_first,
            renderer,
        ]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=tty, exception_formatter=_scrubbed_traceback(scrubber)
        )
        tail = [scrubber, renderer]
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        stamp,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,  # reconfiguring (tests, CLI) must take effect
    )
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    _remove_handler(root)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, quiet))


def reset_logging() -> None:
    """Undo configure_logging (tests): structlog defaults, our handler gone."""
    structlog.reset_defaults()
    root = logging.getLogger()
    _remove_handler(root)
    root.setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def _leading_keys_first(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """JSON lines read better when every line starts with when, how bad, where and what."""
    lead = {k: event[k] for k in ("timestamp", "level", "logger", "event") if k in event}
    return {**lead, **event}


def _remove_handler(root: logging.Logger) -> None:
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
        handler.close()


def _scrubbed_traceback(scrubber: Scrubber) -> structlog.typing.ExceptionRenderer:
    """Plain tracebacks (no locals, which could hold secrets), scrubbed like everything else."""

    def render(out: TextIO, exc_info: ExcInfo) -> None:
        buffer = io.StringIO()
        structlog.dev.plain_traceback(buffer, exc_info)
        out.write(scrubber.text(buffer.getvalue()))

    return render
