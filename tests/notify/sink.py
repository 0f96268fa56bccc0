"""A loopback webhook receiver for tests: records every request and answers as scripted.

Reusable outside pytest too (end-to-end tests point a daemon process at `sink.url_for(...)`):

    async with WebhookSink() as sink:
        sink.script(Reply(500), Reply(500))      # the next two requests fail, then 200
        ...
        await sink.wait_for(lambda got: len(got) >= 3)
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `hold` keeps the request open until the sink closes (timeouts)."""

    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it; header names are lower-case."""

    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int  # what the sink answered

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class WebhookSink:
    """An aiohttp server on 127.0.0.1 that logs every request; 200 unless scripted otherwise."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._default = Reply(200, "ok")  # what Slack answers
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> WebhookSink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookSink:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    def script(self, *replies: Reply, path: str | None = None) -> None:
        """Queue answers for the next requests (to `path`, or to any path), then the default."""
        self._scripts.setdefault(path, deque()).extend(replies)

    def answer_by_default(self, reply: Reply) -> None:
        self._default = reply

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.accepted and (path is None or r.path == path)]

    def webhook_events(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every event of every accepted webhook body, in arrival order."""
        return [e for r in self.accepted(path) for e in r.json()["data"]["events"]]

    async def wait_for(
        self, done: Callable[[list[Received]], bool], within: float = 10.0
    ) -> list[Received]:
        """Wait until `done(received)` holds; fails with what arrived after `within` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: done(self.received)), within)
            except TimeoutError:
                paths = [(r.path, r.status) for r in self.received]
                raise AssertionError(f"sink still waiting after {within}s; got {paths}") from None
        return list(self.received)

    def _next_reply(self, path: str) -> Reply:
        for key in (path, None):
            queue = self._scripts.get(key)
            if queue:
                return queue.popleft()
        return self._default

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        reply = self._next_reply(request.path)
        headers = {k.lower(): v for k, v in request.headers.items()}
        async with self._changed:
            self.received.append(Received(request.path, headers, body, reply.status))
            self._changed.notify_all()
        if reply.hold:
            await self._closing.wait()
        return web.Response(status=reply.status, text=reply.body, headers=dict(reply.headers))


MakeSink = Callable[[], Awaitable[WebhookSink]]  # the `make_sink` fixture's type
