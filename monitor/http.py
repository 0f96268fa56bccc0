"""The HTTP endpoints of contract §7, optionally behind a bearer token or basic auth (§10).

Handlers only read from an `HttpView` the daemon provides: nothing here polls SmartLead or
touches the store, so a scrape or a probe can never stall a cycle. `/metrics` is written from
cached parts, gzip-encoded when the scraper asks (Prometheus does) without recompressing the
parts that did not change.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import struct
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from monitor.config import HttpAuth
from monitor.metrics import CONTENT_TYPE
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

    def metrics(self) -> bytes | Sequence[bytes]:
        """The exposition, whole or as parts written back to back (`MetricsExposition.parts`)."""
        ...

    def issues(self) -> list[dict[str, object]]: ...

    def status(self) -> dict[str, object]: ...


def create_app(view: HttpView, auth: HttpAuth) -> web.Application:
    """The aiohttp application; the daemon runs it with an AppRunner on `http.listen`."""
    check = authorizer(auth)
    app = web.Application(middlewares=[_auth_middleware(check, auth)] if check else [])

    gzip = GzipParts()

    async def metrics(request: web.Request) -> web.StreamResponse:
        body = view.metrics()
        parts: Sequence[bytes] = (body,) if isinstance(body, bytes) else body
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: CONTENT_TYPE})
        response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
        if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
            parts = gzip.encode(parts)
            response.headers[hdrs.CONTENT_ENCODING] = "gzip"
        response.content_length = sum(len(part) for part in parts)
        await response.prepare(request)
        if request.method != hdrs.METH_HEAD:  # a streamed body is ours to leave out on HEAD
            for part in parts:
                await _write_chunked(response, part)
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


class GzipParts:
    """A single gzip member built from separately compressed parts, for `/metrics`.

    Each part is compressed once, as raw deflate ending on a sync flush, and kept while the
    view keeps returning that same bytes object, so a scrape only compresses the small self
    metrics. Concatenated segments form one deflate stream; the CRC of the whole is combined
    from the parts' CRCs. 33 MB of per-account series become about 3 MB on the wire.
    """

    def __init__(self, level: int = 1) -> None:
        self.level = level
        # id(part) -> (part kept alive so the id stays unique, deflate segment, crc, shift)
        self._cache: dict[int, tuple[bytes, bytes, int, int]] = {}

    def encode(self, parts: Sequence[bytes]) -> list[bytes]:
        cache: dict[int, tuple[bytes, bytes, int, int]] = {}
        out = [_GZIP_HEADER]
        crc = 0
        size = 0
        for part in parts:
            if not part:
                continue
            entry = self._cache.get(id(part))
            if entry is None or entry[0] is not part:
                entry = (part, self._deflate(part), zlib.crc32(part), crc32_shift(len(part)))
            cache[id(part)] = entry
            _, segment, part_crc, shift = entry
            out.append(segment)
            crc = _multiply_mod_p(shift, crc) ^ part_crc
            size += len(part)
        self._cache = cache
        out.append(_FINAL_BLOCK)
        out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
        return out

    def _deflate(self, data: bytes) -> bytes:
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


# Magic, deflate, no flags, no mtime, fast compression hint, unknown OS (RFC 1952).
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
_FINAL_BLOCK = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # empty, final

# CRC-32 arithmetic over GF(2), in the reflected bit order zlib uses: appending n bytes to a
# message multiplies its CRC register by x^(8n) modulo the CRC polynomial.
_POLY = 0xEDB88320
_ONE = 1 << 31  # the polynomial 1


def _multiply_mod_p(a: int, b: int) -> int:
    product = 0
    for bit in range(31, -1, -1):
        if a & (1 << bit):
            product ^= b
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


def _powers() -> list[int]:
    table = [_ONE >> 1]  # x^(2^0) = x
    for _ in range(63):
        table.append(_multiply_mod_p(table[-1], table[-1]))
    return table


_X_TO_2N = _powers()  # x^(2^n) mod p, for any exponent below 2^64


def crc32_shift(length: int) -> int:
    """x^(8·length) mod p: `crc32(a + b) == mul(crc32_shift(len(b)), crc32(a)) ^ crc32(b)`."""
    result = _ONE
    exponent = 8 * length
    n = 0
    while exponent:
        if exponent & 1:
            result = _multiply_mod_p(_X_TO_2N[n], result)
        exponent >>= 1
        n += 1
    return result


def crc32_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC-32 of a + b from the CRCs of a and b and the length of b."""
    return _multiply_mod_p(crc32_shift(length_b), crc_a) ^ crc_b


def _json(body: object, status: int = 200) -> web.Response:
    response = web.json_response(body, status=status, dumps=_dumps)
    response.headers[hdrs.CACHE_CONTROL] = "no-store"  # issues and emails are customer data
    return response
