"""Canaries: a distinctive API key and mailbox passwords must surface nowhere, even on errors."""

from __future__ import annotations

import base64
import json
import logging
import socket
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.typing import EventDict

from monitor.config import RetrySettings
from monitor.smartlead.client import SmartLeadClient
from monitor.smartlead.errors import ApiError
from monitor.smartlead.simulator import Fleet, Simulator

from .conftest import MakeClient, StartSimulator

CANARY_KEY = "sk-CANARY-key-8e41a7"
CANARY_PASSWORDS = ("CANARY-smtp-pw-3f9b", "CANARY-imap-pw-c07d")
CANARIES = (
    CANARY_KEY,
    *CANARY_PASSWORDS,
    *(base64.b64encode(p.encode()).decode() for p in CANARY_PASSWORDS),
)
FAST_RETRY = RetrySettings(max_retries=1, timeout=0.1)

Scenario = Callable[[Simulator, SmartLeadClient], Awaitable[Any]]


def _fleet() -> Fleet:
    fleet = Fleet(250, seed=13)
    for account_id in fleet.ids():
        fleet.set_passwords(account_id, *CANARY_PASSWORDS)
    return fleet


async def _list(sim: Simulator, client: SmartLeadClient) -> Any:
    return await client.list_accounts()


async def _by_id(sim: Simulator, client: SmartLeadClient) -> Any:
    return await client.get_account(sim.fleet.ids()[5])


async def _revoked(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.revoke_key()
    return await client.list_accounts()


async def _echoing_422(sim: Simulator, client: SmartLeadClient) -> Any:
    echo = {"error": f"bad query api_key={CANARY_KEY}&limit=100 for key {CANARY_KEY}"}
    sim.faults.status(422, body=json.dumps(echo).encode())
    return await client.list_accounts()


async def _echoing_500(sim: Simulator, client: SmartLeadClient) -> Any:
    echo = {"error": {"message": f"failed for password {CANARY_PASSWORDS[0]}"}}
    sim.faults.status(500, times=None, body=json.dumps(echo).encode())
    return await client.list_accounts()


async def _object_body(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.malformed("object", offset=100)
    return await client.list_accounts()


async def _truncated_body(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.malformed("truncated")
    return await client.list_accounts()


async def _truncated_by_id(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.malformed("truncated", route="by_id")
    return await client.get_account(sim.fleet.ids()[0])


async def _repeated_page(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.ignore_offset()
    return await client.list_accounts()


async def _timeout(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.delay(5.0, times=None, route=None)
    return await client.get_account(sim.fleet.ids()[0])


async def _rate_limited(sim: Simulator, client: SmartLeadClient) -> Any:
    sim.faults.status(429, times=None, retry_after="1")
    return await client.list_accounts({"username": "chen"})


SCENARIOS: dict[str, Scenario] = {
    "list": _list,
    "by_id": _by_id,
    "401": _revoked,
    "422 echoing the key": _echoing_422,
    "500 echoing a password": _echoing_500,
    "object body": _object_body,
    "truncated body": _truncated_body,
    "truncated by-id body": _truncated_by_id,
    "repeated page": _repeated_page,
    "timeout": _timeout,
    "429": _rate_limited,
}


def _assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"a canary leaked into {where}"


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_no_canary_escapes(
    start_simulator: StartSimulator,
    make_client: MakeClient,
    logs: list[EventDict],
    caplog: pytest.LogCaptureFixture,
    scenario: Scenario,
) -> None:
    """Key and passwords reach no log event, stdlib log record, exception or model repr."""
    caplog.set_level(logging.DEBUG)
    sim = await start_simulator(_fleet(), api_key=CANARY_KEY)
    client = make_client(sim.url, api_key=CANARY_KEY, retry=FAST_RETRY)
    try:
        result = await scenario(sim, client)
    except ApiError as error:
        _assert_clean(str(error), "str(error)")
        _assert_clean(repr(error), "repr(error)")
        _assert_clean(repr(vars(error)), "the error's attributes")
        _assert_clean("".join(traceback.format_exception(error)), "the traceback")
        assert error.__cause__ is None and error.__context__ is None
    else:
        assert result is not None
        _assert_clean(repr(result), "the parsed result")
    assert logs, "the client should have logged"
    _assert_clean(repr(logs), "structlog events")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "stdlib log records")
    _assert_clean(repr(client), "the client's repr")
    _assert_clean(repr(vars(client)), "the client's attributes")


async def test_connection_error_leaks_no_key(
    make_client: MakeClient, logs: list[EventDict]
) -> None:
    """A refused connection's error text and logs show the URL with api_key=*** only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}", api_key=CANARY_KEY, retry=FAST_RETRY)
    with pytest.raises(ApiError) as caught:
        await client.get_account(1)
    _assert_clean("".join(traceback.format_exception(caught.value)), "the traceback")
    _assert_clean(repr(logs), "structlog events")
