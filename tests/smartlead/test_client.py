"""The SmartLead client against the simulator on loopback: pagination, errors, retries."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from structlog.typing import EventDict

from monitor.config import RetrySettings
from monitor.smartlead.client import MAX_SERVER_WAIT
from monitor.smartlead.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeout,
    AuthError,
    RateLimited,
    RequestRejected,
    ServerError,
    UnexpectedResponse,
    ValidationError,
)
from monitor.smartlead.simulator import Fleet
from monitor.smartlead.simulator.faults import Malformed

from .conftest import FakeTime, MakeClient, StartSimulator

# -- pagination ------------------------------------------------------------------------------


async def test_lists_every_account_across_pages(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """550 accounts come back once each, in order, over 6 pages of 100 with offset by rows."""
    sim = await start_simulator()
    listing = await make_client(sim.url).list_accounts()
    assert [a.id for a in listing.accounts] == sim.fleet.ids()
    assert (listing.pages, listing.requests) == (6, 6)
    assert [seen.query["offset"] for seen in sim.history] == [
        "0",
        "100",
        "200",
        "300",
        "400",
        "500",
    ]
    assert {seen.query["limit"] for seen in sim.history} == {"100"}


async def test_unchanged_rows_come_back_as_the_known_accounts(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A row equal to the caller's known account is that very object (held once in memory);
    a row that changed is new, with the new state."""
    sim = await start_simulator(Fleet(250, seed=3))
    client = make_client(sim.url)
    known = (await client.list_accounts()).by_id
    changed = sim.fleet.ids()[7]
    sim.fleet.set_smtp(changed, ok=not sim.fleet.mailbox(changed).smtp_ok)
    again = (await client.list_accounts(known=known)).by_id
    assert again.keys() == known.keys()
    assert again[changed] is not known[changed]
    assert again[changed].is_smtp_success is not known[changed].is_smtp_success
    assert all(again[i] is known[i] for i in known if i != changed)


async def test_full_last_page_ends_on_an_empty_page(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """With no total count, a listing of exactly 300 accounts ends at the empty fourth page."""
    sim = await start_simulator(Fleet(300, seed=1))
    listing = await make_client(sim.url).list_accounts()
    assert len(listing.accounts) == 300
    assert listing.pages == 4


async def test_page_that_shrinks_between_requests_loses_no_stable_account(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """An account leaving page 3 as it is read shifts the rest left; stable ones all arrive once."""
    sim = await start_simulator()
    leaving = sim.fleet.ids()[250]
    sim.faults.drift([leaving], offset=200)
    listing = await make_client(sim.url).list_accounts()
    ids = [a.id for a in listing.accounts]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(sim.fleet.ids()) - {leaving}


async def test_account_joining_the_filter_mid_listing_is_deduplicated(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """An account that starts failing while page 2 is read shifts later rows right; the row
    seen twice is kept once and no failing account is lost."""
    fleet = Fleet(700, seed=5)
    for account_id in fleet.ids():
        fleet.set_smtp(account_id, ok=account_id % 4 != 0)  # ~175 failing: 2 pages
    fleet_ids = fleet.ids()
    joining = next(i for i in fleet_ids if i % 4 != 0)  # will sort first among the failing
    sim = await start_simulator(fleet)
    responses: list[str] = []

    def between_pages(workspace: str, code: str) -> None:
        responses.append(code)
        if len(responses) == 1:
            fleet.set_smtp(joining, ok=False)

    client = make_client(sim.url, on_response=between_pages)
    failing_before = {i for i in fleet_ids if i % 4 == 0}
    listing = await client.list_accounts({"isSmtpSuccess": "false"})
    ids = [a.id for a in listing.accounts]
    assert len(ids) == len(set(ids))
    assert set(ids) == failing_before  # the repeated boundary row kept once; the joiner
    assert 100 < len(failing_before) < 200 and listing.pages == 2  # is next poll's news


async def test_repeated_page_fails_instead_of_looping(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """An API ignoring the offset repeats page 1: the client stops at page 2 with a clear error."""
    sim = await start_simulator()
    sim.faults.ignore_offset()
    with pytest.raises(UnexpectedResponse, match="repeats the previous page") as caught:
        await make_client(sim.url).list_accounts()
    assert sim.requests == 2
    assert "api_key=***" in str(caught.value)


async def test_page_cap_ends_a_listing(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A listing that needs more than max_pages fails after max_pages requests."""
    sim = await start_simulator()
    with pytest.raises(UnexpectedResponse, match="page cap of 3 pages"):
        await make_client(sim.url, max_pages=3).list_accounts()
    assert sim.requests == 3


# -- filters ---------------------------------------------------------------------------------


async def test_filters_are_anded(start_simulator: StartSimulator, make_client: MakeClient) -> None:
    """Two filters return only accounts matching both, never the union."""
    fleet = Fleet(400, seed=11)
    for n, account_id in enumerate(fleet.ids()):
        fleet.set_smtp(account_id, ok=n % 3 != 0)
    sim = await start_simulator(fleet)
    client = make_client(sim.url)
    failing = {a.id for a in (await client.list_accounts({"isSmtpSuccess": "false"})).accounts}
    gmail = {a.id for a in (await client.list_accounts({"esp": "GMAIL"})).accounts}
    both = await client.list_accounts({"isSmtpSuccess": "false", "esp": "GMAIL"})
    expected = {b.id for b in fleet if not b.smtp_ok and b.esp == "GMAIL"}
    assert {a.id for a in both.accounts} == expected == failing & gmail
    assert expected and expected != failing and expected != gmail
    assert all(a.is_smtp_success is False and a.esp == "GMAIL" for a in both.accounts)


# -- by id -----------------------------------------------------------------------------------


async def test_get_account_reads_the_by_id_answer(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """The by-id answer carries is_warmup_blocked, which list rows lack."""
    sim = await start_simulator()
    account_id = next(b.id for b in sim.fleet if b.warmup_status is not None)
    sim.fleet.set_blocked(account_id, True, reason="Warmup paused: bounces")
    account = await make_client(sim.url).get_account(account_id)
    assert account is not None and account.warmup is not None
    assert account.id == account_id
    assert account.warmup.is_blocked is True
    assert account.warmup.blocked_reason == "Warmup paused: bounces"


async def test_get_account_of_a_removed_account_is_none(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """404 on the by-id route means the account is gone: None, not an error, no retry."""
    sim = await start_simulator()
    gone = sim.fleet.ids()[0]
    sim.fleet.remove_account(gone)
    assert await make_client(sim.url).get_account(gone) is None
    assert sim.statuses() == [404]


# -- errors that are not retried -------------------------------------------------------------


async def test_401_is_an_auth_error_without_retry(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A revoked key fails at once with AuthError naming the API's message and a redacted URL."""
    sim = await start_simulator()
    sim.revoke_key()
    with pytest.raises(AuthError) as caught:
        await make_client(sim.url).list_accounts()
    assert caught.value.status == 401
    assert "Invalid API Key" in str(caught.value)
    assert caught.value.url.endswith("api_key=***")
    assert sim.statuses() == [401]


async def test_key_restored_works_again(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """After the key is restored the same client lists again."""
    sim = await start_simulator()
    client = make_client(sim.url)
    sim.revoke_key()
    with pytest.raises(AuthError):
        await client.get_account(sim.fleet.ids()[0])
    sim.restore_key()
    assert await client.get_account(sim.fleet.ids()[0]) is not None


async def test_422_is_a_validation_error_without_retry(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A filter value the API rejects gives ValidationError after one request."""
    sim = await start_simulator()
    with pytest.raises(ValidationError, match="isSmtpSuccess must be true or false") as caught:
        await make_client(sim.url).list_accounts({"isSmtpSuccess": "maybe"})
    assert caught.value.status == 422
    assert sim.statuses() == [422]


async def test_other_4xx_is_rejected_without_retry(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """403 is neither retried nor mistaken for an auth failure."""
    sim = await start_simulator()
    sim.faults.status(403, times=None)
    with pytest.raises(RequestRejected) as caught:
        await make_client(sim.url).list_accounts()
    assert not isinstance(caught.value, AuthError)
    assert (caught.value.status, sim.requests) == (403, 1)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("html", "not JSON \\(content type text/html\\)"),
        ("object", "expected a JSON array of accounts, got an object"),
        ("truncated", "not JSON"),
    ],
)
async def test_malformed_list_body_is_unexpected_response(
    start_simulator: StartSimulator, make_client: MakeClient, kind: Malformed, reason: str
) -> None:
    """A 200 whose body is HTML, an object or cut-off JSON fails at once, without a retry."""
    sim = await start_simulator()
    sim.faults.malformed(kind, offset=100)
    with pytest.raises(UnexpectedResponse, match=reason) as caught:
        await make_client(sim.url).list_accounts()
    assert caught.value.status == 200
    assert sim.statuses() == [200, 200]


async def test_malformed_by_id_body_is_unexpected_response(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A by-id 200 with `success: false` is not taken for an account (nor for its removal)."""
    sim = await start_simulator()
    account_id = sim.fleet.ids()[3]
    sim.faults.malformed("object", route="by_id", account_id=account_id)
    with pytest.raises(UnexpectedResponse, match="'id'"):
        await make_client(sim.url).get_account(account_id)


# -- retries ---------------------------------------------------------------------------------


async def test_429_with_retry_after_is_waited_out(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """A 429 saying Retry-After: 7 makes the client wait 7 s, then the same page succeeds."""
    sim = await start_simulator()
    sim.faults.status(429, retry_after="7", offset=200)
    codes: list[str] = []
    client = make_client(sim.url, on_response=lambda _, code: codes.append(code))
    listing = await client.list_accounts()
    assert len(listing.accounts) == 550
    assert fake_time.sleeps == [7.0]
    assert codes == ["200", "200", "429", "200", "200", "200", "200"]
    assert listing.requests == 7


async def test_simulator_rate_limit_is_honoured(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """A client faster than the server's limit is slowed by 429s and Retry-After, and finishes."""
    sim = await start_simulator(
        rate_limit=1.0, burst=2, clock=fake_time.monotonic, wall_clock=fake_time.wall
    )
    client = make_client(sim.url, rate_limit=100.0, burst=10)
    listing = await client.list_accounts()
    assert len(listing.accounts) == 550
    assert sim.statuses().count(200) == 6
    assert fake_time.now - 1000.0 >= 4.0  # 6 pages at 1/s with a burst of 2
    assert all(wait >= 0 for wait in fake_time.sleeps)


async def test_remaining_zero_pauses_until_reset(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """X-RateLimit-Remaining: 0 holds the next request until X-RateLimit-Reset: no 429 at all."""
    sim = await start_simulator(
        rate_limit=2.0, burst=3, clock=fake_time.monotonic, wall_clock=fake_time.wall
    )
    listing = await make_client(sim.url, rate_limit=100.0).list_accounts()
    assert len(listing.accounts) == 550
    assert 429 not in sim.statuses()
    assert fake_time.sleeps  # it did wait


async def test_retry_after_beyond_reason_fails_at_once(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A server asking for an hour's pause fails the request now rather than hang the poll."""
    sim = await start_simulator()
    sim.faults.status(429, retry_after="3600")
    with pytest.raises(RateLimited, match=f"more than {MAX_SERVER_WAIT:.0f} s"):
        await make_client(sim.url).list_accounts()
    assert sim.requests == 1


async def test_persistent_500_fails_after_the_retry_budget(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Five 500s (1 + 4 retries) end in ServerError; backoff doubles under full jitter."""
    sim = await start_simulator()
    sim.faults.status(500, times=None)
    with pytest.raises(ServerError) as caught:
        await make_client(sim.url).list_accounts()
    error = caught.value
    assert (error.status, error.attempts, sim.requests) == (500, 5, 5)
    assert error.retryable and "after 5 attempts" in str(error)
    assert len(fake_time.sleeps) == 4
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(fake_time.sleeps))


async def test_backoff_is_capped(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """No backoff exceeds max_backoff, however many retries are configured."""
    sim = await start_simulator()
    sim.faults.status(503, times=None, route=None)
    retry = RetrySettings(max_retries=12, initial_backoff=0.5, max_backoff=2.0, timeout=5.0)
    with pytest.raises(ServerError):
        await make_client(sim.url, retry=retry).get_account(sim.fleet.ids()[0])
    assert len(fake_time.sleeps) == 12
    assert max(fake_time.sleeps) <= 2.0


async def test_transient_500_recovers(
    start_simulator: StartSimulator, make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Two 502s on page 4 are retried and the listing completes."""
    sim = await start_simulator()
    sim.faults.status(502, times=2, offset=300)
    listing = await make_client(sim.url).list_accounts()
    assert len(listing.accounts) == 550
    assert (listing.pages, listing.requests) == (6, 8)
    assert len(fake_time.sleeps) == 2


async def test_timeouts_are_retried_then_typed(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A server slower than the timeout on every attempt gives ApiTimeout, counted as "timeout"."""
    sim = await start_simulator()
    sim.faults.delay(5.0, times=None)
    codes: list[str] = []
    retry = RetrySettings(max_retries=1, timeout=0.05)
    client = make_client(sim.url, retry=retry, on_response=lambda _, code: codes.append(code))
    with pytest.raises(ApiTimeout) as caught:
        await client.list_accounts()
    assert caught.value.attempts == 2 and caught.value.status is None
    assert codes == ["timeout", "timeout"]


async def test_one_timeout_then_success(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """A single slow answer is retried and the listing completes."""
    sim = await start_simulator()
    sim.faults.delay(5.0, offset=100)
    retry = RetrySettings(timeout=0.2)
    listing = await make_client(sim.url, retry=retry).list_accounts()
    assert len(listing.accounts) == 550
    assert listing.requests == 7


async def test_connection_refused_is_a_connection_error(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    """Nothing listening: retried, then ApiConnectionError with the redacted URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    codes: list[str] = []
    client = make_client(f"http://127.0.0.1:{port}", on_response=lambda _, c: codes.append(c))
    with pytest.raises(ApiConnectionError) as caught:
        await client.list_accounts()
    assert codes == ["error"] * 5
    assert caught.value.url == (
        f"http://127.0.0.1:{port}/api/v1/email-accounts/?offset=0&limit=100&api_key=***"
    )


async def test_concurrent_listings_count_their_own_requests(
    start_simulator: StartSimulator, make_client: MakeClient
) -> None:
    """Two listings sharing one client and its rate limit each report their own requests."""
    sim = await start_simulator()
    client = make_client(sim.url, burst=1)
    everything, gmail = await asyncio.gather(
        client.list_accounts(), client.list_accounts({"esp": "GMAIL"})
    )
    assert (everything.pages, everything.requests) == (6, 6)
    assert gmail.requests == gmail.pages
    assert len(gmail.accounts) == sum(1 for b in sim.fleet if b.esp == "GMAIL")


@pytest.fixture
async def redirecting_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A server that redirects every request elsewhere, and a list of who reached elsewhere."""
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        reached.append(request.path_qs)
        return web.json_response([])

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    app = web.Application()
    app.router.add_get("/elsewhere", elsewhere)
    app.router.add_get("/{tail:.*}", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", reached
    finally:
        await runner.cleanup()


async def test_redirects_are_not_followed(
    redirecting_server: tuple[str, list[str]], make_client: MakeClient
) -> None:
    """A redirect would carry the key in the query string elsewhere: it fails instead."""
    url, reached = redirecting_server
    with pytest.raises(UnexpectedResponse, match="redirected \\(302\\)"):
        await make_client(url).list_accounts()
    assert reached == []


# -- logs ------------------------------------------------------------------------------------


async def test_one_debug_line_per_request_and_one_canonical_line(
    start_simulator: StartSimulator, make_client: MakeClient, logs: list[EventDict]
) -> None:
    """Each request logs at debug; each listing logs one info line with its totals."""
    sim = await start_simulator()
    sim.faults.status(500, offset=100)
    await make_client(sim.url).list_accounts({"esp": "OUTLOOK"})
    requests = [e for e in logs if e["event"] == "smartlead.request"]
    canonical = [e for e in logs if e["event"] == "smartlead.list_accounts"]
    assert [e["status"] for e in requests][:3] == ["200", "500", "200"]
    assert [e["attempt"] for e in requests][:3] == [1, 1, 2]
    assert all(e["log_level"] == "debug" and e["workspace"] == "acme" for e in requests)
    assert all(e["url"].endswith("api_key=***") for e in requests)
    (line,) = canonical
    assert line["log_level"] == "info"
    assert line["outcome"] == "ok" and line["filters"] == {"esp": "OUTLOOK"}
    assert line["requests"] == len(requests) == line["pages"] + 1
    assert line["accounts"] == sum(1 for b in sim.fleet if b.esp == "OUTLOOK")


async def test_failed_listing_logs_its_outcome(
    start_simulator: StartSimulator, make_client: MakeClient, logs: list[EventDict]
) -> None:
    """The canonical line of a failed listing names the error kind."""
    sim = await start_simulator()
    sim.revoke_key()
    with pytest.raises(ApiError):
        await make_client(sim.url).list_accounts()
    (line,) = [e for e in logs if e["event"] == "smartlead.list_accounts"]
    assert (line["outcome"], line["pages"], line["requests"]) == ("AuthError", 0, 1)
