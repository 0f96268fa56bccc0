"""Notifiers: each renders a group of events with a pure function, then sends it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.core.model import Event


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    retry_after: float | None = None  # seconds the receiver asked us to wait (429)
    permanent: bool = False  # retrying cannot help (for example 400 invalid_payload)
    error: str | None = None  # short and redacted: never a URL path or a secret


class Notifier(Protocol):
    name: str
    type: str

    async def send(self, message_id: str, events: Sequence[Event]) -> DeliveryResult: ...
