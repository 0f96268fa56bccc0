"""Standard Webhooks signing, checked by a verifier written here from the specification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from monitor.notify.webhook import WebhookNotifier, render_webhook, sign_webhook

from .events import NOW, mixed_events
from .sink import MakeSink, Reply

RAW_KEY = os.urandom(24)
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()
PLAIN = "correct horse battery staple"


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: int) -> bool:
    """An independent receiver: key from the secret, HMAC over `id.timestamp.body`,
    any of the space-separated `v1,` signatures, and a five-minute timestamp window."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else None
    key = key if key is not None else secret.encode("utf-8")
    timestamp = headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > 300:
        return False
    content = headers["webhook-id"].encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.digest(key, content, "sha256"))
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


def test_published_test_vector() -> None:
    """The Standard Webhooks reference vector reproduces exactly."""
    headers = sign_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.mark.parametrize("secret", [WHSEC, PLAIN], ids=["whsec", "plain"])
def test_independent_verifier_accepts_and_catches_tampering(secret: str) -> None:
    """Both secret forms verify; a changed body, id, timestamp or key does not."""
    body = render_webhook(mixed_events(), NOW)
    stamp = int(NOW.timestamp())
    headers = sign_webhook(secret, "message-1", stamp, body)
    assert verify(secret, headers, body, stamp)
    assert not verify(secret, headers, body.replace(b"smtp_failed", b"imap_failed", 1), stamp)
    assert not verify(secret, headers, body + b" ", stamp)
    assert not verify(secret, {**headers, "webhook-id": "message-2"}, body, stamp)
    moved = {**headers, "webhook-timestamp": str(stamp + 1)}
    assert not verify(secret, moved, body, stamp)
    other_key = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    assert not verify(other_key, headers, body, stamp)
    assert not verify(secret.upper(), headers, body, stamp)
    assert not verify(secret, headers, body, stamp + 3600)  # replayed an hour later


def test_whsec_key_is_decoded_not_used_as_text() -> None:
    """A `whsec_` secret signs with its decoded bytes, so the two forms differ."""
    as_text = sign_webhook("x" + WHSEC, "m", 1, b"{}")["webhook-signature"]
    decoded = sign_webhook(WHSEC, "m", 1, b"{}")["webhook-signature"]
    digest = hmac.new(RAW_KEY, b"m.1.{}", hashlib.sha256).digest()
    assert decoded == "v1," + base64.b64encode(digest).decode()
    assert as_text != decoded


def test_malformed_whsec_secret_fails_at_construction(session: aiohttp.ClientSession) -> None:
    """A `whsec_` secret that is not base64 is a start-up error, not a failure per message."""
    with pytest.raises(ValueError, match="base64"):
        WebhookNotifier("hook", "http://127.0.0.1:9/", session, secret="whsec_not base64!")


async def test_sent_requests_verify_and_keep_their_id_across_retries(
    session: aiohttp.ClientSession, make_sink: MakeSink
) -> None:
    """What reaches the receiver verifies; a retry keeps webhook-id and re-stamps the time."""
    sink = await make_sink()
    sink.script(Reply(503))
    clock = iter([NOW, NOW + timedelta(seconds=7)])
    notifier = WebhookNotifier(
        "hook", sink.url_for("/hook"), session, secret=WHSEC, clock=lambda: next(clock)
    )
    first = await notifier.send("msg-42", mixed_events())
    second = await notifier.send("msg-42", mixed_events())
    assert not first.ok and second.ok
    attempts = sink.on("/hook")
    assert [a.headers["webhook-id"] for a in attempts] == ["msg-42", "msg-42"]
    stamps = [int(a.headers["webhook-timestamp"]) for a in attempts]
    assert stamps == [int(NOW.timestamp()), int(NOW.timestamp()) + 7]
    for attempt, stamp in zip(attempts, stamps, strict=True):
        assert attempt.headers["content-type"] == "application/json"
        assert verify(WHSEC, attempt.headers, attempt.body, stamp)
    assert attempts[1].json()["timestamp"] == "2026-11-28T10:00:07Z"


async def test_unsigned_without_secret(session: aiohttp.ClientSession, make_sink: MakeSink) -> None:
    """Without a secret there is no signature, but the id still lets a receiver de-duplicate."""
    sink = await make_sink()
    notifier = WebhookNotifier("hook", sink.url_for("/hook"), session)
    assert (await notifier.send("m", mixed_events())).ok
    (request,) = sink.received
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] == "m"
    stamp = datetime.fromisoformat(request.json()["timestamp"].replace("Z", "+00:00"))
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
