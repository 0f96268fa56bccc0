"""The HTTP endpoints of contract §7, optionally behind a bearer token or basic auth (§10).

Handlers only read from an `HttpView` the daemon provides: nothing here polls SmartLead or
touches the store, so a scrape or a probe can never stall a cycle. `/metrics` is written from
the parts `MetricsExposition` caches, gzip-encoded when the scraper asks (Prometheus does).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from monitor.config import HttpAuth
from monitor.metrics import CONTENT_TYPE
from monitor.packed import Part, unpack
from monitor.views import issues_json, readiness, status_json

# The pure JSON builders live in monitor.views; re-exported for the daemon's HttpView.
__all__ = ["HttpView", "authorizer", "create_app", "issues_json", "readiness", "status_json"]

REALM = "smartlead-monitor"
# Probes carry no credentials, and neither answer holds customer data.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
WRITE_CHUNK = 1 << 20  # /metrics is written in 1 MiB slices (fastest in bench/metrics.py)

_dumps = partial(json.dumps, default=str)  # detail values the API sent are data, not types


class HttpView(Protocol):
    """What the endpoints read. The daemon implements it over its in-memory state."""

    def alive(self) -> bool:
        """The scheduler and the event loop are running (never depends on SmartLead)."""
        ...

    def readiness(self) -> tuple[bool, dict[str, object]]: ...

    def metrics(self, gzip: bool) -> Sequence[Part]:
        """The exposition as parts to write back to back (`MetricsExposition.parts`); with
        `gzip`, one gzip member."""
        ...

    def issues(self) -> list[dict[str, object]]: ...

    def status(self) -> dict[str, object]: ...


def create_app(view: HttpView, auth: HttpAuth) -> web.Application:
    """The aiohttp application; the daemon runs it with an AppRunner on `http.listen`."""
    check = authorizer(auth)
    app = web.Application(middlewares=[_auth_middleware(check, auth)] if check else [])

    async def metrics(request: web.Request) -> web.StreamResponse:
        gzip = accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
        parts = view.metrics(gzip=gzip)
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: CONTENT_TYPE})
        response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
        if gzip:
            response.headers[hdrs.CONTENT_ENCODING] = "gzip"
        response.content_length = sum(len(part) for part in parts)
        await response.prepare(request)
        if request.method != hdrs.METH_HEAD:  # a streamed body is ours to leave out on HEAD
            for part in parts:
                await _write_chunked(response, unpack(part))
        await response.write_eof()
        return response

    async def healthz(request: web.Request) -> web.Response:
        if view.alive():
            return _json({"status": "ok"})
        return _json({"status": "down"}, status=503)

    async def readyz(request: web.Request) -> web.Response:
        ready, body = view.readiness()
        return _json(body, status=200 if ready else 503)

    async def issues(request: web.Request) -> web.Response:
        return _json(view.issues())

    async def status(request: web.Request) -> web.Response:
        return _json(view.status())

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/issues", issues)
    app.router.add_get("/api/v1/status", status)
    return app


def authorizer(auth: HttpAuth) -> Callable[[str | None], bool] | None:
    """A check of the Authorization header, or None when the endpoints are open.

    Bearer and basic may both be configured; either then grants access. Half-configured basic
    auth (a username without a password or the reverse) is refused rather than left open.
    """
    if (auth.username is None) != (auth.password is None):
        raise ValueError("http auth needs both username and password for basic auth")
    token = auth.bearer_token.get_secret_value().encode() if auth.bearer_token else None
    basic = (
        (auth.username.encode(), auth.password.get_secret_value().encode())
        if auth.username is not None and auth.password is not None
        else None
    )
    if token is None and basic is None:
        return None

    def check(header: str | None) -> bool:
        scheme, _, credentials = (header or "").strip().partition(" ")
        credentials = credentials.strip()
        if token is not None and scheme.lower() == "bearer":
            return hmac.compare_digest(credentials.encode(), token)
        if basic is not None and scheme.lower() == "basic":
            return _basic_matches(credentials, *basic)
        return False

    return check


def _basic_matches(credentials: str, username: bytes, password: bytes) -> bool:
    try:
        decoded = base64.b64decode(credentials.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return False
    given_user, colon, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, username)
    password_ok = hmac.compare_digest(given_password, password)  # both compared: no shortcut
    return bool(colon) and user_ok and password_ok


def _auth_middleware(check: Callable[[str | None], bool], auth: HttpAuth) -> Middleware:
    challenges = []
    if auth.bearer_token is not None:
        challenges.append(f'Bearer realm="{REALM}"')
    if auth.username is not None:
        challenges.append(f'Basic realm="{REALM}", charset="UTF-8"')

    @web.middleware
    async def require_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or check(request.headers.get(hdrs.AUTHORIZATION)):
            return await handler(request)
        response = _json({"error": "unauthorized"}, status=401)
        for challenge in challenges:
            response.headers.add(hdrs.WWW_AUTHENTICATE, challenge)
        return response

    return require_auth


async def _write_chunked(response: web.StreamResponse, data: bytes) -> None:
    """Write in slices of a view: the transport then never copies the whole body at once,
    and other tasks run while a slow scraper reads."""
    view = memoryview(data)
    for start in range(0, len(view), WRITE_CHUNK):
        await response.write(view[start : start + WRITE_CHUNK])


def accepts_gzip(header: str) -> bool:
    """True when Accept-Encoding lists gzip without q=0 (Prometheus always sends it)."""
    for item in header.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        name, _, value = params.strip().lower().partition("=")
        try:
            return not (name == "q" and float(value) == 0)
        except ValueError:
            return True
    return False


def _json(body: object, status: int = 200) -> web.Response:
    response = web.json_response(body, status=status, dumps=_dumps)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"  # issues and emails are customer data
    return response
