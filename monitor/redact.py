"""Keep secrets out of text: API keys in query strings, webhook URLs with tokens."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_API_KEY = re.compile(r"(api_key=)[^&#\s]*", re.IGNORECASE)


def redact_url(url: object) -> str:
    """A URL safe to log: the `api_key` query value replaced by `***`."""
    return _API_KEY.sub(r"\1***", str(url))


def url_origin(url: object) -> str:
    """Only scheme and host (and port): a webhook URL's path carries its token."""
    parts = urlsplit(str(url))
    if not parts.scheme or not parts.hostname:
        return "<invalid url>"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"
