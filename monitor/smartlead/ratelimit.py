"""A per-workspace token bucket, and how long the server asked us to hold off.

Time comes from a monotonic clock (injected), so a wall-clock jump neither floods the API nor
stalls the poller; only the server's own `X-RateLimit-Reset` is read against the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# A Reset value below this is a number of seconds, above it a unix time (some APIs send either).
_UNIX_TIME_FLOOR = 1_000_000_000.0
_EPSILON = 1e-9


class TokenBucket:
    """At most `rate` requests per second on average, `burst` at once; FIFO for waiters."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = float("-inf")
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for a token (and for any pause the server asked for), then take it."""
        async with self._lock:
            while True:
                wait = self.try_acquire()
                if wait == 0.0:
                    return
                await self._sleep(wait)

    def try_acquire(self) -> float:
        """Take a token now and return 0, or return the seconds until one is available."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:  # float refill may stop a hair short of 1
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def pause_for(self, seconds: float) -> None:
        """Hold every request for `seconds` from now (a server's Retry-After or reset)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def remaining(self) -> int:
        """Whole tokens available now, as a server would report in X-RateLimit-Remaining."""
        self._refill(self._clock())
        return int(self._tokens)

    def seconds_until_full(self) -> float:
        """How long until the bucket is full again (the natural X-RateLimit-Reset)."""
        self._refill(self._clock())
        return (self.burst - self._tokens) / self.rate

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)  # an injected clock may step back; never mind
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = max(self._updated, now)


def server_wait(headers: Mapping[str, str], wall_now: float) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` (seconds or HTTP date) or
    `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`; None when it asked nothing.

    Header names are matched in any letter case, and unreadable values are ignored.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    retry_after = lower.get("retry-after")
    if retry_after is not None:
        wait = _retry_after(retry_after.strip(), wall_now)
        if wait is not None:
            return wait
    remaining = _number(lower.get("x-ratelimit-remaining"))
    reset = _number(lower.get("x-ratelimit-reset"))
    if remaining is None or remaining > 0 or reset is None:
        return None
    wait = reset - wall_now if reset >= _UNIX_TIME_FLOOR else reset
    return max(0.0, wait)


def _retry_after(value: str, wall_now: float) -> float | None:
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; a zoneless one is not one
    return max(0.0, when.timestamp() - wall_now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return number
