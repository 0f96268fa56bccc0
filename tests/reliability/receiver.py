"""The e2e webhook sink with the faults a real receiver has: slow answers, and going away.

`LaggingSink` counts a request when it arrives and can hold its answer for a while, so a test
can kill the daemon while a delivery is in flight, or let the daemon's 10 s timeout expire.
`down()`/`up()` close and reopen the same port: the daemon sees connections refused.
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import web
from notify.sink import WebhookSink


class LaggingSink(WebhookSink):
    def __init__(self) -> None:
        super().__init__()
        self.arrivals = 0  # requests that reached the handler, answered or not
        self._lags: deque[float] = deque()

    def lag_next(self, *seconds: float) -> None:
        """Hold the answers to the next requests for these many seconds each."""
        self._lags.extend(seconds)

    @property
    def listening(self) -> bool:
        return self._runner is not None

    async def down(self) -> None:
        """Stop listening: the port refuses connections until `up()`."""
        await self.close()

    async def up(self) -> None:
        await self.start(port=self.port)

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals += 1
        await request.read()  # kept by aiohttp: the body survives a client that hangs up
        if self._lags:
            await asyncio.sleep(self._lags.popleft())
        return await super()._handle(request)
