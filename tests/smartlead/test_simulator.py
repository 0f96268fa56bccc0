"""The simulator is faithful to the documented API: filters, pagination, validation, payloads."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from monitor.smartlead.simulator import Fleet, Mailbox, Transitions, run_simulator

from .conftest import API_KEY, FakeTime, StartSimulator

LIST = "/api/v1/email-accounts/"
DOCUMENTED_FIELDS = {
    "id", "created_at", "updated_at", "user_id", "from_name", "from_email",
    "minTimeToWaitInMins", "username", "password", "smtp_host", "smtp_port", "smtp_port_type",
    "message_per_day", "different_reply_to_address", "is_different_imap_account",
    "imap_username", "imap_password", "imap_host", "imap_port", "imap_port_type", "signature",
    "custom_tracking_domain", "bcc_email", "is_smtp_success", "is_imap_success",
    "smtp_failure_error", "imap_failure_error", "type", "daily_sent_count", "client_id",
    "campaign_count", "warmup_details",
}  # fmt: skip
WARMUP_FIELDS = {
    "status", "total_sent_count", "total_spam_count", "warmup_reputation", "warmup_key_id",
    "warmup_created_at", "reply_rate", "blocked_reason",
}  # fmt: skip


async def _get(
    session: aiohttp.ClientSession, url: str, **query: str
) -> tuple[int, Any, dict[str, str]]:
    async with session.get(url, params={"api_key": API_KEY, **query}) as response:
        body = await response.read()
        parsed = json.loads(body) if response.content_type == "application/json" else body
        return response.status, parsed, dict(response.headers)


async def _all_rows(
    session: aiohttp.ClientSession, base: str, **query: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        status, page, _ = await _get(session, base + LIST, offset=str(len(rows)), **query)
        assert status == 200
        rows.extend(page)
        if len(page) < 100:
            return rows


FILTERS: list[tuple[dict[str, str], Callable[[Mailbox], bool]]] = [
    ({"isInUse": "true"}, lambda b: b.campaign_count > 0),
    ({"isInUse": "false"}, lambda b: b.campaign_count == 0),
    ({"emailWarmupStatus": "ACTIVE"}, lambda b: b.warmup_status == "ACTIVE"),
    ({"emailWarmupStatus": "INACTIVE"}, lambda b: b.warmup_status == "INACTIVE"),
    ({"isSmtpSuccess": "false"}, lambda b: not b.smtp_ok),
    ({"isSmtpSuccess": "true"}, lambda b: b.smtp_ok),
    ({"isWarmupBlocked": "true"}, lambda b: b.blocked),
    ({"esp": "OUTLOOK"}, lambda b: b.esp == "OUTLOOK"),
    ({"esp": "zoho"}, lambda b: b.esp == "ZOHO"),
    ({"username": "CHEN"}, lambda b: "chen" in b.email),
    ({"client_id": "12"}, lambda b: b.client_id == 12),
    (
        {"isSmtpSuccess": "true", "esp": "GMAIL", "isInUse": "true", "client_id": "11"},
        lambda b: b.smtp_ok and b.esp == "GMAIL" and b.campaign_count > 0 and b.client_id == 11,
    ),
]


@pytest.mark.parametrize(("query", "keep"), FILTERS, ids=[str(q) for q, _ in FILTERS])
async def test_each_documented_filter(
    start_simulator: StartSimulator,
    session: aiohttp.ClientSession,
    query: dict[str, str],
    keep: Callable[[Mailbox], bool],
) -> None:
    """Every documented filter (and a combination, ANDed) selects exactly its accounts."""
    sim = await start_simulator(Fleet(600, seed=21))
    rows = await _all_rows(session, sim.url, **query)
    expected = [b.id for b in sim.fleet if keep(b)]
    assert expected, "the fleet should contain matching accounts"
    assert [row["id"] for row in rows] == expected


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"isSmtpSuccess": "yes"},
        {"esp": "YAHOO"},
        {"emailWarmupStatus": "PAUSED"},
        {"client_id": "abc"},
    ],
)
async def test_invalid_query_is_422(
    start_simulator: StartSimulator, session: aiohttp.ClientSession, query: dict[str, str]
) -> None:
    """Out-of-range limits and unknown filter values answer 422 with {"error": "..."}."""
    sim = await start_simulator()
    status, body, _ = await _get(session, sim.url + LIST, **query)
    assert status == 422
    assert isinstance(body["error"], str) and body["error"]


async def test_limit_and_offset_paginate(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    """limit defaults to 100; offset and limit slice the id-ordered list."""
    sim = await start_simulator()
    ids = sim.fleet.ids()
    _, default_page, _ = await _get(session, sim.url + LIST)
    _, slice_, _ = await _get(session, sim.url + LIST, offset="7", limit="3")
    _, past_end, _ = await _get(session, sim.url + LIST, offset="10000")
    assert [r["id"] for r in default_page] == ids[:100]
    assert [r["id"] for r in slice_] == ids[7:10]
    assert past_end == []


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_bad_key_is_401(
    start_simulator: StartSimulator, session: aiohttp.ClientSession, key: str | None
) -> None:
    """A missing or wrong key answers 401 {"message": "Invalid API Key"}, on every route."""
    sim = await start_simulator()
    query = {} if key is None else {"api_key": key}
    for path in (LIST, f"{LIST}{sim.fleet.ids()[0]}/"):
        async with session.get(sim.url + path, params=query) as response:
            assert response.status == 401
            assert await response.json() == {"message": "Invalid API Key"}


async def test_list_rows_are_complete_and_carry_base64_passwords(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    """List rows have every documented field, base64 passwords and no is_warmup_blocked."""
    sim = await start_simulator()
    box = next(b for b in sim.fleet if b.warmup_status is not None)
    sim.fleet.set_passwords(box.id, "smtp-secret-1", "imap-secret-2")
    rows = await _all_rows(session, sim.url)
    row = next(r for r in rows if r["id"] == box.id)
    assert set(row) >= DOCUMENTED_FIELDS
    assert set(row["warmup_details"]) == WARMUP_FIELDS
    assert base64.b64decode(row["password"]) == b"smtp-secret-1"
    assert base64.b64decode(row["imap_password"]) == b"imap-secret-2"
    assert all(set(r) >= DOCUMENTED_FIELDS for r in rows)


async def test_by_id_answer_has_plain_password_and_block_flag(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    """The by-id answer carries the plain password and warmup_details.is_warmup_blocked."""
    sim = await start_simulator()
    box = next(b for b in sim.fleet if b.warmup_status is not None)
    sim.fleet.set_passwords(box.id, "smtp-secret-1", "imap-secret-2")
    sim.fleet.set_blocked(box.id, True)
    status, body, _ = await _get(session, f"{sim.url}{LIST}{box.id}/")
    assert status == 200
    assert body["password"] == "smtp-secret-1"
    assert body["warmup_details"]["is_warmup_blocked"] is True
    assert body["warmup_details"]["blocked_reason"]


async def test_unknown_id_is_404(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    """An id that does not exist answers 404 with {"error": "..."}."""
    sim = await start_simulator()
    status, body, _ = await _get(session, f"{sim.url}{LIST}1/")
    assert status == 404 and "error" in body


async def test_payloads_mix_the_forms_seen_in_the_wild(
    start_simulator: StartSimulator, session: aiohttp.ClientSession
) -> None:
    """Reputation as "95%", 95 and "95", null warmup_details, numeric strings and ZOHO occur."""
    sim = await start_simulator(Fleet(1000, seed=8))
    rows = await _all_rows(session, sim.url)
    reputations = [r["warmup_details"]["warmup_reputation"] for r in rows if r["warmup_details"]]
    assert any(isinstance(v, str) and v.endswith("%") for v in reputations)
    assert any(isinstance(v, int) for v in reputations)
    assert any(isinstance(v, str) and v.isdigit() for v in reputations)
    assert any(v in (None, "") for v in reputations)
    assert any(r["warmup_details"] is None for r in rows)
    assert any(isinstance(r["message_per_day"], str) for r in rows)
    assert {r["type"] for r in rows} == {"GMAIL", "OUTLOOK", "SMTP", "ZOHO"}
    assert any("smart_sender_flag" in r for r in rows)


async def test_rate_limit_answers_429_with_headers(
    start_simulator: StartSimulator, session: aiohttp.ClientSession, fake_time: FakeTime
) -> None:
    """Past the burst, 429 with Retry-After and X-RateLimit-*; after the wait, 200 again."""
    sim = await start_simulator(
        rate_limit=0.5, burst=2, clock=fake_time.monotonic, wall_clock=fake_time.wall
    )
    statuses = [(await _get(session, sim.url + LIST, limit="1"))[0] for _ in range(2)]
    status, body, headers = await _get(session, sim.url + LIST, limit="1")
    assert statuses == [200, 200] and status == 429
    assert headers["Retry-After"] == "2"
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Reset"]) >= fake_time.wall() + 2
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    fake_time.now += 2
    assert (await _get(session, sim.url + LIST, limit="1"))[0] == 200


# -- the fleet -------------------------------------------------------------------------------


def test_fleet_is_reproducible_from_its_seed() -> None:
    """The same seed gives the same rows and the same transitions; another seed does not."""
    a, b, c = Fleet(200, seed=4), Fleet(200, seed=4), Fleet(200, seed=5)
    assert [a.list_row(i) for i in a.ids()] == [b.list_row(i) for i in b.ids()]
    assert a.ids() != c.ids()
    assert a.tick() == b.tick()


def test_tick_moves_accounts_both_ways() -> None:
    """With certain transitions every healthy account breaks, then every one recovers."""
    always = Transitions(1, 1, 1, 1, 1, 1, 1, 1)
    fleet = Fleet(50, seed=2, transitions=always)
    for box in list(fleet):
        fleet.set_smtp(box.id, ok=True)
        fleet.set_imap(box.id, ok=True)
        fleet.set_blocked(box.id, False)
    fleet.tick()
    assert all(not b.smtp_ok and not b.imap_ok for b in fleet)
    assert all(b.blocked for b in fleet if b.warmup_status is not None)
    fleet.tick()
    assert all(b.smtp_ok and b.imap_ok and not b.blocked for b in fleet)


def test_tick_reports_each_change() -> None:
    """tick() returns what changed, matching the new state of each account."""
    fleet = Fleet(300, seed=9, transitions=Transitions(smtp_fail=0.5, smtp_recover=0.5))
    changes = fleet.tick()
    assert changes
    for change in changes:
        box = fleet.mailbox(change.account_id)
        if change.condition == "smtp":
            assert box.smtp_ok is not change.failing
        elif change.condition == "blocked":
            assert box.blocked is change.failing
        elif change.condition == "reputation":
            assert box.reputation_low is change.failing


def test_changes_reach_the_cached_rows() -> None:
    """A setter invalidates the cached row, and bumps the version used by filter caches."""
    fleet = Fleet(10, seed=1)
    account_id = fleet.ids()[0]
    before, version = json.loads(fleet.list_row(account_id)), fleet.version
    fleet.set_smtp(account_id, ok=False, error="535 Authentication failed")
    fleet.set_reputation(account_id, 42, form="percent")
    after = json.loads(fleet.list_row(account_id))
    assert before["is_smtp_success"] is True or before["smtp_failure_error"] is not None
    assert after["is_smtp_success"] is False
    assert after["smtp_failure_error"] == "535 Authentication failed"
    assert fleet.version > version
    if after["warmup_details"] is not None:
        assert after["warmup_details"]["warmup_reputation"] == "42%"


def test_add_and_remove_accounts() -> None:
    """Added accounts join the list in id order; removed ones leave it."""
    fleet = Fleet(5, seed=1)
    first = fleet.ids()[0]
    added = fleet.add_account(first - 1)
    appended = fleet.add_account()
    fleet.remove_account(first)
    assert fleet.ids()[0] == added and fleet.ids()[-1] == appended
    assert first not in fleet and len(fleet) == 6
    with pytest.raises(ValueError, match="exists"):
        fleet.add_account(added)


async def test_background_tick_changes_the_fleet() -> None:
    """With tick_seconds, the served fleet is ticked on each interval of the injected sleep."""
    fleet = Fleet(100, seed=3, transitions=Transitions(smtp_fail=1.0))
    slept: list[float] = []
    ticked = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 1:
            ticked.set()
            await asyncio.Event().wait()  # park: one tick is enough

    async with run_simulator(fleet, tick_seconds=5.0, sleep=sleep):
        await asyncio.wait_for(ticked.wait(), 5)
        assert slept == [5.0, 5.0]
        assert all(not box.smtp_ok for box in fleet)


async def test_runs_as_a_subprocess_and_stops_on_sigterm(session: aiohttp.ClientSession) -> None:
    """`python -m monitor.smartlead.simulator --port 0` prints its URL, serves, exits 0 on TERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.smartlead.simulator", "--port", "0",
        "--accounts", "120", "--seed", "2", "--api-key", API_KEY,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        status, rows, _ = await _get(session, url + LIST, offset="100")
        assert status == 200 and len(rows) == 20
        assert API_KEY not in line
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 10)
    assert code == 0
