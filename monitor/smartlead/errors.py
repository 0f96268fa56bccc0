"""What can go wrong talking to SmartLead, as types the polls can act on.

Every message names the request by its redacted URL (`api_key=***`) and says what went wrong in
a few words; response bodies are never copied in, except a short, cleaned `message` field.
"""

from __future__ import annotations

import json
import re

from monitor.redact import redact_url

# An error message from the API is untrusted text: keep a glimpse, never a body.
MAX_SNIPPET = 120
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")
# Whatever follows a word like "password" in an error message is taken for a credential.
_CREDENTIAL = re.compile(
    r"\b(pass(?:word|wd)?|pwd|secret|token|api[_ -]?key|authorization)\b"
    r"([\s:=\"']{0,3}+)(?!\*\*\*)[^\s&\"']+",
    re.IGNORECASE,
)


class ApiError(Exception):
    """A SmartLead request that did not give a usable answer."""

    retryable = False  # whether the same request could succeed later without a change by us

    def __init__(
        self, reason: str, *, url: str, status: int | None = None, attempts: int = 1
    ) -> None:
        self.reason = reason
        self.url = redact_url(url)
        self.status = status
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{reason}{tries}: GET {self.url}")


class AuthError(ApiError):
    """401: the API key is missing, wrong or revoked; retrying will not help."""


class ValidationError(ApiError):
    """422: SmartLead rejected the query parameters."""


class RequestRejected(ApiError):
    """Any other 4xx but 429: a request the API will keep refusing."""


class RateLimited(ApiError):
    """429 on every attempt of the retry budget, or a wait longer than we are willing to give."""

    retryable = True


class ServerError(ApiError):
    """5xx on every attempt of the retry budget."""

    retryable = True


class ApiTimeout(ApiError):
    """No complete answer within the request timeout, on every attempt."""

    retryable = True


class ApiConnectionError(ApiError):
    """The connection failed (DNS, refused, reset, TLS) on every attempt."""

    retryable = True


class UnexpectedResponse(ApiError):
    """A 200 whose body is not the documented shape, or a pagination that cannot end well."""


def error_snippet(body: bytes, *, secrets: tuple[str, ...] = ()) -> str | None:
    """The `message` of an error body in any of SmartLead's four shapes, cleaned and cut short.

    Only a field meant as a human message is read, so a body echoing a row cannot leak it.
    """
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    text = _message_of(parsed)
    if not text:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _CREDENTIAL.sub(r"\1\2***", redact_url(text))
    text = " ".join(_UNPRINTABLE.sub(" ", text).split())
    if len(text) > MAX_SNIPPET:
        text = text[: MAX_SNIPPET - 1] + "…"
    return text or None


def _message_of(parsed: object) -> str | None:
    if not isinstance(parsed, dict):
        return None
    message = parsed.get("message")
    if isinstance(message, str):
        return message  # {"message": "Invalid API Key"}
    error = parsed.get("error")
    if isinstance(error, str):
        return error  # {"error": "<string>"}
    if isinstance(error, dict):
        inner = error.get("message")
        if isinstance(inner, str):
            return inner  # {"error": {"code": …, "message": …}} and the success:false form
        code = error.get("code")
        if isinstance(code, str):
            return code
    return None
