"""The simulated SmartLead email-accounts API as an aiohttp app, in-process or standalone.

Faithful to the documented endpoint: ANDed filters, offset/limit pagination, `limit` checked
(422), API key checked (401), by-id fetch (404), passwords in the payload, and an optional
rate limit answering 429 with `Retry-After` and `X-RateLimit-*`. Faults are injected through
`Simulator.faults`; the fleet changes through `Simulator.fleet` or a background tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from monitor.smartlead.ratelimit import Clock, Sleep, TokenBucket
from monitor.smartlead.simulator.faults import Fault, Faults, Route
from monitor.smartlead.simulator.fleet import Fleet, Mailbox, detail_payload

ACCOUNTS_PATH = "/api/v1/email-accounts/"
MAX_LIMIT = 100
BOOLEAN_FILTERS = ("isInUse", "isSmtpSuccess", "isWarmupBlocked")
WARMUP_STATUSES = ("ACTIVE", "INACTIVE")
ESPS = ("GMAIL", "OUTLOOK", "SMTP", "ZOHO")
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><h1>We'll be back soon</h1></body></html>"
)

_WHOLE = re.compile(r"-?[0-9]{1,12}")

log = structlog.get_logger(__name__)
Predicate = Callable[[Mailbox], bool]


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """What the simulator received (without the key) and what it answered."""

    route: str
    path: str
    query: Mapping[str, str]
    status: int


class QueryError(ValueError):
    """A query parameter the real API would reject with 422."""


class Simulator:
    """The state behind the app: fleet, key, rate limit, faults and a log of requests."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        api_key: str = "demo",
        rate_limit: float | None = None,
        burst: int = 10,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.fleet = fleet
        self.faults = Faults()
        self.api_key = api_key
        self.key_valid = True
        self.url = ""  # set once served
        self.history: deque[SeenRequest] = deque(maxlen=10_000)
        self.requests = 0
        self._wall_clock = wall_clock
        self._bucket = (
            TokenBucket(rate_limit, burst, clock=clock) if rate_limit is not None else None
        )
        self._selection: dict[tuple[tuple[str, str], ...], list[int]] = {}
        self._selection_version = -1

    def revoke_key(self) -> None:
        """From now on every request answers 401, as after a key rotation."""
        self.key_valid = False

    def restore_key(self) -> None:
        self.key_valid = True

    def statuses(self, route: str | None = None) -> list[int]:
        """The statuses answered so far, oldest first (optionally for one route)."""
        return [seen.status for seen in self.history if route is None or seen.route == route]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get(ACCOUNTS_PATH, self._list)
        app.router.add_get(ACCOUNTS_PATH.rstrip("/"), self._list)
        app.router.add_get(ACCOUNTS_PATH + "{account_id}/", self._by_id)
        app.router.add_get(ACCOUNTS_PATH + "{account_id}", self._by_id)
        return app

    # -- handlers --------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.StreamResponse:
        refused = self._gate(request)
        if refused is not None:
            return refused
        try:
            offset, limit, filters = parse_list_query(request.query)
        except QueryError as error:
            return _json({"error": str(error)}, 422, self._rate_headers())
        faults = self.faults.take("list", offset, filters)
        answered = await self._apply(faults, "list")
        if answered is not None:
            return answered
        ids = self.select(filters)
        for fault in faults:
            if fault.action == "omit":
                ids = [i for i in ids if i not in fault.omit]
            elif fault.action == "ignore_offset":
                offset = 0
        rows = [self.fleet.list_row(i) for i in ids[offset : offset + limit]]
        if any(fault.action == "object" for fault in faults):
            body = b'{"ok":true,"data":[' + b",".join(rows) + b"]}"
        else:
            body = b"[" + b",".join(rows) + b"]"
        if any(fault.action == "truncated" for fault in faults):
            body = body[: max(1, len(body) // 2)]
        return _raw(body, 200, self._rate_headers())

    async def _by_id(self, request: web.Request) -> web.StreamResponse:
        refused = self._gate(request)
        if refused is not None:
            return refused
        text = request.match_info["account_id"]
        if not text.isascii() or not text.isdigit():
            return _json({"error": "id must be a number"}, 422, self._rate_headers())
        account_id = int(text)
        faults = self.faults.take("by_id", account_id=account_id)
        answered = await self._apply(faults, "by_id")
        if answered is not None:
            return answered
        box = self.fleet.get(account_id)
        if box is None:
            return _json({"error": "Email account not found"}, 404, self._rate_headers())
        body: Any = detail_payload(box)
        if any(fault.action == "object" for fault in faults):
            body = {"success": False, "message": "Something went wrong"}
        raw = json.dumps(body).encode()
        if any(fault.action == "truncated" for fault in faults):
            raw = raw[: len(raw) // 2]
        return _raw(raw, 200, self._rate_headers())

    # -- the parts every request goes through ----------------------------------------------

    def _gate(self, request: web.Request) -> web.Response | None:
        """The API key check, then the rate limit: what answers before any query is read."""
        if not self.key_valid or request.query.get("api_key") != self.api_key:
            return _json({"message": "Invalid API Key"}, 401, {})
        if self._bucket is None:
            return None
        wait = self._bucket.try_acquire()
        if wait == 0.0:
            return None
        seconds = max(1, math.ceil(wait))
        message = f"Rate limit exceeded, retry after {seconds} seconds."
        body = {
            "error": {"code": "RATE_LIMIT_EXCEEDED", "message": message, "retry_after": seconds}
        }
        return _json(body, 429, {**self._rate_headers(), "Retry-After": str(seconds)})

    async def _apply(self, faults: list[Fault], route: Route) -> web.Response | None:
        """Delays first, then the first fault that replaces the answer altogether."""
        for fault in faults:
            if fault.action == "delay":
                await asyncio.sleep(fault.seconds)
        for fault in faults:
            if fault.action == "status":
                return self._status_answer(fault)
            if fault.action == "html":
                return _raw(HTML_PAGE, 200, self._rate_headers(), content_type="text/html")
        return None

    def _status_answer(self, fault: Fault) -> web.Response:
        headers = self._rate_headers()
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.body is not None:
            return _raw(fault.body, fault.status, headers)
        if fault.status == 429:
            body: dict[str, Any] = {
                "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests"}
            }
        elif fault.status == 401:
            body = {"message": "Invalid API Key"}
        else:
            body = {"error": _REASONS.get(fault.status, "Request failed")}
        return _json(body, fault.status, headers)

    def _rate_headers(self) -> dict[str, str]:
        if self._bucket is None:
            return {}
        reset = math.ceil(self._wall_clock() + self._bucket.seconds_until_full())
        return {
            "X-RateLimit-Limit": str(self._bucket.burst),
            "X-RateLimit-Remaining": str(self._bucket.remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def select(self, filters: Mapping[str, str]) -> list[int]:
        """Ids matching every filter, in list order; cached until the fleet changes."""
        if self._selection_version != self.fleet.version:
            self._selection.clear()
            self._selection_version = self.fleet.version
        key = tuple(sorted(filters.items()))
        ids = self._selection.get(key)
        if ids is None:
            if not filters:
                ids = self.fleet.ids()
            else:
                keep = predicate(filters)
                ids = [box.id for box in self.fleet if keep(box)]
            self._selection[key] = ids
        return ids

    @web.middleware
    async def _record(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        status = 499  # the client went away (for example during a delay fault)
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as error:  # unknown routes: aiohttp's own 404
            status = error.status
            raise
        finally:
            self.requests += 1
            route = "by_id" if "account_id" in request.match_info else "list"
            query = {k: v for k, v in request.query.items() if k != "api_key"}
            self.history.append(SeenRequest(route, request.path, query, status))
        return response


def parse_list_query(query: Mapping[str, str]) -> tuple[int, int, dict[str, str]]:
    """Offset, limit and the documented filters, validated like the API does (QueryError)."""
    offset = _whole(query.get("offset", "0"), "offset")
    limit = _whole(query.get("limit", str(MAX_LIMIT)), "limit")
    if offset < 0:
        raise QueryError("offset must be greater than or equal to 0")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
    filters: dict[str, str] = {}
    for name in BOOLEAN_FILTERS:
        if name in query:
            value = query[name].lower()
            if value not in ("true", "false"):
                raise QueryError(f"{name} must be true or false")
            filters[name] = value
    if "emailWarmupStatus" in query:
        status = query["emailWarmupStatus"].upper()
        if status not in WARMUP_STATUSES:
            raise QueryError("emailWarmupStatus must be ACTIVE or INACTIVE")
        filters["emailWarmupStatus"] = status
    if "esp" in query:
        esp = query["esp"].upper()
        if esp not in ESPS:
            raise QueryError(f"esp must be one of {', '.join(ESPS)}")
        filters["esp"] = esp
    if query.get("username"):
        filters["username"] = query["username"].lower()
    if "client_id" in query:
        filters["client_id"] = str(_whole(query["client_id"], "client_id"))
    return offset, limit, filters


def predicate(filters: Mapping[str, str]) -> Predicate:
    """A test that keeps a mailbox only when every filter matches (SmartLead ANDs them)."""
    wanted = [(name, _expected(name, value)) for name, value in filters.items()]

    def keep(box: Mailbox) -> bool:
        for name, expected in wanted:
            if name == "username":
                if str(expected) not in box.email.lower():
                    return False
            elif _FIELDS[name](box) != expected:
                return False
        return True

    return keep


_FIELDS: dict[str, Callable[[Mailbox], object]] = {
    "isInUse": lambda box: box.in_use,
    "isSmtpSuccess": lambda box: box.smtp_ok,
    "isWarmupBlocked": lambda box: box.blocked,
    "emailWarmupStatus": lambda box: box.warmup_status,
    "esp": lambda box: box.esp,
    "client_id": lambda box: box.client_id,
}


def _expected(name: str, value: str) -> object:
    if name in BOOLEAN_FILTERS:
        return value == "true"
    if name == "client_id":
        return int(value)
    return value


@contextlib.asynccontextmanager
async def run_simulator(
    fleet: Fleet,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = "demo",
    rate_limit: float | None = None,
    burst: int = 10,
    tick_seconds: float | None = None,
    clock: Clock = time.monotonic,
    wall_clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[Simulator]:
    """Serve the simulator on `host:port` (0: any free port) until the block exits.

    With `tick_seconds`, the fleet changes state every that many seconds (the demo's mode),
    waiting through `sleep`.
    """
    simulator = Simulator(
        fleet,
        api_key=api_key,
        rate_limit=rate_limit,
        burst=burst,
        clock=clock,
        wall_clock=wall_clock,
    )
    # No access log: request lines carry the API key in the query string.
    runner = web.AppRunner(
        simulator.app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    ticking: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        simulator.url = f"http://{shown_host}:{bound_port}"
        if tick_seconds is not None:
            ticking = asyncio.create_task(_tick_forever(fleet, tick_seconds, sleep))
        yield simulator
    finally:
        if ticking is not None:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
        await runner.cleanup()


async def _tick_forever(fleet: Fleet, seconds: float, sleep: Sleep) -> None:
    while True:
        await sleep(seconds)
        changes = fleet.tick()
        log.debug("simulator.tick", changes=len(changes), accounts=len(fleet))


def serve(
    port: int,
    accounts: int,
    seed: int,
    api_key: str,
    rate_limit: float | None,
    tick_seconds: float | None,
    host: str = "127.0.0.1",
    burst: int = 10,
) -> None:
    """Run the simulator until Ctrl-C or SIGTERM (`smartlead-monitor simulate`)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(port, accounts, seed, api_key, rate_limit, tick_seconds, host, burst))


async def _serve(
    port: int,
    accounts: int,
    seed: int,
    api_key: str,
    rate_limit: float | None,
    tick_seconds: float | None,
    host: str,
    burst: int,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fleet = Fleet(accounts, seed=seed)
    async with run_simulator(
        fleet,
        host=host,
        port=port,
        api_key=api_key,
        rate_limit=rate_limit,
        burst=burst,
        tick_seconds=tick_seconds,
    ) as simulator:
        limit = f"{rate_limit:g} requests/s" if rate_limit else "no rate limit"
        changing = f"changing every {tick_seconds:g} s" if tick_seconds else "static"
        key = api_key if api_key == "demo" else "<your --api-key>"
        print(
            f"SmartLead simulator on {simulator.url} ({accounts} accounts, seed {seed},"
            f" {limit}, {changing})\n"
            f"  try: curl '{simulator.url}{ACCOUNTS_PATH}?api_key={key}&limit=5'",
            flush=True,
        )
        await stop.wait()


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    422: "Validation Error",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _json(body: object, status: int, headers: Mapping[str, str]) -> web.Response:
    return _raw(json.dumps(body).encode(), status, headers)


def _raw(
    body: bytes,
    status: int,
    headers: Mapping[str, str],
    content_type: str = "application/json",
) -> web.Response:
    return web.Response(body=body, status=status, headers=headers, content_type=content_type)


def _whole(text: str, name: str) -> int:
    if _WHOLE.fullmatch(text.strip()) is None:
        raise QueryError(f"{name} must be an integer")
    return int(text)
