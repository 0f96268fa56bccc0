"""The token bucket on fake time, and reading how long a server asked us to wait."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from monitor.smartlead.ratelimit import TokenBucket, server_wait

from .conftest import FakeTime

NOW = 1_800_000_000.0


async def test_burst_then_steady_rate(fake_time: FakeTime) -> None:
    """A bucket of 3 at 2/s lets 3 through at once, then one every half second."""
    bucket = TokenBucket(2.0, 3, clock=fake_time.monotonic, sleep=fake_time.sleep)
    started = fake_time.now
    times = []
    for _ in range(7):
        await bucket.acquire()
        times.append(fake_time.now - started)
    assert times == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5, 2.0])


async def test_idle_time_refills_only_up_to_burst(fake_time: FakeTime) -> None:
    """After a long idle spell only `burst` requests go through without waiting."""
    bucket = TokenBucket(1.0, 2, clock=fake_time.monotonic, sleep=fake_time.sleep)
    fake_time.now += 3600
    for _ in range(2):
        assert bucket.try_acquire() == 0.0
    assert bucket.try_acquire() == pytest.approx(1.0)


async def test_pause_holds_every_request(fake_time: FakeTime) -> None:
    """A server-requested pause delays the next request even with tokens left."""
    bucket = TokenBucket(10.0, 5, clock=fake_time.monotonic, sleep=fake_time.sleep)
    bucket.pause_for(7.0)
    started = fake_time.now
    await bucket.acquire()
    assert fake_time.now - started == pytest.approx(7.0)
    assert bucket.try_acquire() == 0.0  # the pause is over, tokens remain


async def test_clock_stepping_back_does_not_mint_tokens(fake_time: FakeTime) -> None:
    """An injected clock going backwards neither adds tokens nor raises."""
    bucket = TokenBucket(1.0, 1, clock=fake_time.monotonic, sleep=fake_time.sleep)
    assert bucket.try_acquire() == 0.0
    fake_time.now -= 100
    assert bucket.try_acquire() > 0
    assert bucket.remaining == 0


async def test_waiters_are_served_in_order(fake_time: FakeTime) -> None:
    """Concurrent acquirers go through one at a time, spaced by the rate."""
    bucket = TokenBucket(4.0, 1, clock=fake_time.monotonic, sleep=fake_time.sleep)
    order: list[int] = []

    async def take(n: int) -> None:
        await bucket.acquire()
        order.append(n)

    await asyncio.gather(*(take(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert fake_time.now - 1000.0 == pytest.approx(1.0)


def test_float_rounding_does_not_starve(fake_time: FakeTime) -> None:
    """A refill that float arithmetic leaves a hair short of one token still grants it."""
    bucket = TokenBucket(1000.0, 1, clock=fake_time.monotonic, sleep=fake_time.sleep)
    assert bucket.try_acquire() == 0.0
    fake_time.now += 0.001  # (1000.001 - 1000.0) * 1000 == 0.99999999997
    assert bucket.try_acquire() == 0.0


def test_rejects_nonsense_settings() -> None:
    """A zero rate or an empty bucket is a programming error, not an endless wait."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, 0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"RETRY-AFTER": "-4"}, 0.0),
        (
            {"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 12, UTC), usegmt=True)},
            12.0,
        ),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
        ({"Retry-After": "soon"}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 9)}, 9.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 9)}, 9.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}, 4.0),  # seconds, not a time
        ({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": str(int(NOW) + 9)}, None),
        ({"X-RateLimit-Remaining": "0"}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "nan"}, None),
        ({"Retry-After": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60"}, 5.0),
        ({"Retry-After": "junk", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "60"}, 60.0),
        ({}, None),
    ],
)
def test_server_wait(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After (seconds or HTTP date) wins; else Remaining 0 with Reset; any letter case."""
    assert server_wait(headers, NOW) == (None if expected is None else pytest.approx(expected))
