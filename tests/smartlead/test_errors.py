"""Error texts: the API's message in any of its four shapes, short and without secrets."""

from __future__ import annotations

import json

import pytest

from monitor.smartlead.errors import MAX_SNIPPET, ApiError, ServerError, error_snippet


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "Invalid API Key"}, "Invalid API Key"),
        ({"error": "limit must be between 1 and 100"}, "limit must be between 1 and 100"),
        (
            {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "retry after 30 s"}},
            "retry after 30 s",
        ),
        ({"success": False, "error": {"code": "BAD_FILTER"}}, "BAD_FILTER"),
        ({"error": {"details": {}}}, None),
        ([{"id": 1, "password": "x"}], None),
        ({"message": "  line one\n\tline two\x00 "}, "line one line two"),
        ({"message": "bad password: hunter2 for box"}, "bad password: *** for box"),
        ({"error": "see /x?api_key=abc123&limit=5"}, "see /x?api_key=***&limit=5"),
    ],
)
def test_error_snippet_shapes(body: object, expected: str | None) -> None:
    """Only a message field is read; whitespace is folded and credential-looking words hidden."""
    assert error_snippet(json.dumps(body).encode()) == expected


def test_error_snippet_hides_known_secrets_and_is_short() -> None:
    """A known secret echoed by the API is starred, and a long message is cut."""
    body = json.dumps({"error": "key sk-live-123456 " + "x" * 500}).encode()
    snippet = error_snippet(body, secrets=("sk-live-123456",))
    assert snippet is not None
    assert "sk-live" not in snippet and len(snippet) == MAX_SNIPPET


def test_error_snippet_of_html_is_none() -> None:
    """An HTML error page gives no snippet at all."""
    assert error_snippet(b"<html><body>502 Bad Gateway</body></html>") is None


def test_error_message_carries_a_redacted_url() -> None:
    """Whatever URL is handed in, the error shows api_key=*** and says how many attempts."""
    error = ServerError(
        "SmartLead server error: 503", url="https://h/x?api_key=s3cret&a=1", status=503, attempts=5
    )
    assert (
        str(error)
        == "SmartLead server error: 503 after 5 attempts: GET https://h/x?api_key=***&a=1"
    )
    assert error.url == "https://h/x?api_key=***&a=1"
    assert isinstance(error, ApiError) and error.retryable
