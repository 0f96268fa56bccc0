"""One HTTP POST to a receiver and what its answer means for the outbox.

The policy, the same for every HTTP notifier: 2xx is delivered; 429, 408, 425 and 5xx are
retried (honouring `Retry-After`); 400, 413 and 422 mean this message itself is refused, so
retrying cannot help and the outbox drops it rather than block the queue behind it for 24 h;
any other 4xx (401, 403, 404, 410, …) or a redirect means the receiver is misconfigured: the
message is kept and retried for up to 24 h, so nothing is lost while someone fixes it, and
every attempt is logged as an error naming the notifier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import structlog

from monitor.notify import DeliveryResult
from monitor.redact import url_origin

log = structlog.get_logger(__name__)

MESSAGE_REFUSED = frozenset({400, 413, 422})
RETRYABLE_4XX = frozenset({408, 425, 429})
MAX_RETRY_AFTER = 3600.0  # a receiver asking for more than an hour is not taken literally
_ERROR_TOKEN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # Slack's `invalid_payload`, …


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver said, reduced to what is safe to keep: no URL, no body text."""

    status: int
    retry_after: float | None = None
    error_token: str | None = None  # a short machine word from the body, like Slack's


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(text) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def error_token(body: bytes) -> str | None:
    """A body that is one short machine word (Slack's errors) is worth logging; prose is not.

    Receivers may echo the request path (and with it a token) in a prose body, so anything
    else is never kept.
    """
    text = body.decode("utf-8", "replace").strip()
    return text if _ERROR_TOKEN.match(text) else None


def outcome(answer: Answer, origin: str) -> DeliveryResult:
    """The outbox's view of one answer; see the module docstring for the policy."""
    status = answer.status
    if 200 <= status < 300:
        return DeliveryResult(ok=True)
    said = f" {answer.error_token}" if answer.error_token else ""
    error = f"HTTP {status}{said} from {origin}"
    if status in MESSAGE_REFUSED:
        return DeliveryResult(ok=False, permanent=True, error=error)
    return DeliveryResult(ok=False, retry_after=answer.retry_after, error=error)


def misconfigured(status: int) -> bool:
    """Answers that no wait will fix, only an operator: logged as errors on every attempt."""
    if status in RETRYABLE_4XX or status in MESSAGE_REFUSED:
        return False
    return 300 <= status < 500


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    request_timeout: float,
    now: datetime | None = None,
) -> Answer | DeliveryResult:
    """POST once; a transport failure comes back as a retryable DeliveryResult.

    Exception texts are never used: aiohttp puts the full URL into several of them.
    """
    origin = url_origin(url)
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=request_timeout),
            allow_redirects=False,
        ) as response:
            head = await response.content.read(256)
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now or datetime.now(UTC)
            )
            return Answer(response.status, retry_after, error_token(head))
    except TimeoutError:
        error = f"timeout after {request_timeout:g}s posting to {origin}"
        return DeliveryResult(ok=False, error=error)
    except (aiohttp.ClientError, OSError) as exc:
        return DeliveryResult(ok=False, error=f"{type(exc).__name__} posting to {origin}")


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    notifier: str,
    request_timeout: float,
    now: datetime | None = None,
) -> DeliveryResult:
    """POST and judge the answer, logging refusals and misconfiguration with the notifier name."""
    answer = await post(session, url, body, headers, request_timeout=request_timeout, now=now)
    if isinstance(answer, DeliveryResult):
        return answer
    origin = url_origin(url)
    result = outcome(answer, origin)
    if result.permanent:
        log.error(
            "notification refused by receiver; dropping this message",
            notifier=notifier,
            origin=origin,
            status=answer.status,
            receiver_error=answer.error_token,
        )
    elif misconfigured(answer.status):
        log.error(
            "receiver rejects notifications; check this notifier's URL and settings",
            notifier=notifier,
            origin=origin,
            status=answer.status,
            receiver_error=answer.error_token,
        )
    return result
