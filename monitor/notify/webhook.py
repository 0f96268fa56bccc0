"""Generic webhook: the §6 JSON body, signed per Standard Webhooks when a secret is set.

`webhook-id` is the outbox message id, the same on every retry, so a receiver can drop a
duplicate; `webhook-timestamp` is the time of this attempt, so replay windows stay tight.
Both go out even unsigned; `webhook-signature` only with a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import aiohttp

from monitor import __version__
from monitor.core.model import Event, event_to_dict, iso
from monitor.notify import DeliveryResult
from monitor.notify.post import deliver

EVENT_TYPE = "smartlead.health.events"
KEY_PREFIX = "whsec_"
USER_AGENT = f"smartlead-monitor/{__version__}"


def render_webhook(events: Sequence[Event], now: datetime) -> bytes:
    """The body, compact JSON with the key order of the contract; UTF-8 bytes as signed."""
    body = {
        "type": EVENT_TYPE,
        "timestamp": iso(now),
        "data": {"events": [event_to_dict(e) for e in events]},
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signing_key(secret: str) -> bytes:
    """`whsec_<base64>` is the Standard Webhooks form; any other secret is its UTF-8 bytes."""
    if secret.startswith(KEY_PREFIX):
        try:
            return base64.b64decode(secret[len(KEY_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("a secret starting with whsec_ must be base64 after it") from None
    return secret.encode()


def sign_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt of one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def body_schema() -> dict[str, Any]:
    """The JSON schema of the body, shipped beside this module (webhook.schema.json)."""
    text = resources.files("monitor.notify").joinpath("webhook.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


class WebhookNotifier:
    """POSTs the JSON body to one URL; signs it when a secret is configured."""

    def __init__(
        self,
        name: str,
        url: str,
        session: aiohttp.ClientSession,
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 10.0,
    ) -> None:
        if secret:
            signing_key(secret)  # a malformed whsec_ secret fails at start-up, not per message
        self.name = name
        self.type = "webhook"
        self._url = url
        self._session = session
        self._secret = secret or None
        self._clock = clock
        self._timeout = timeout

    async def send(self, message_id: str, events: Sequence[Event]) -> DeliveryResult:
        now = self._clock()
        body = render_webhook(events, now)
        stamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            # the id is the receiver's idempotency key, worth sending even unsigned
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
        }
        if self._secret:
            headers |= sign_webhook(self._secret, message_id, stamp, body)
        return await deliver(
            self._session,
            self._url,
            body,
            headers,
            notifier=self.name,
            request_timeout=self._timeout,
            now=now,
        )
