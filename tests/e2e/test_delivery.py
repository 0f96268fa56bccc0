"""Issue 4 end to end: the durable outbox of the real daemon against failing receivers.

Every event carries a stable id; the sink records every attempt, so "none lost" and "no
duplicate" are checked on ids, and "same id on retry" on the `webhook-id` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from notify.sink import Received, Reply

from .conftest import MakeHarness
from .harness import Harness, slack_notifier, webhook_notifier

pytestmark = pytest.mark.e2e

QUICK = {"polling": {"failure_interval": 0.5, "inventory_interval": 1.5}}
Key = tuple[int | None, str, str]  # account, kind, status


def event_keys(events: list[dict[str, Any]]) -> Counter[Key]:
    return Counter(((e["account"] or {}).get("id"), e["kind"], e["status"]) for e in events)


def ids_in(requests: list[Received]) -> list[str]:
    return [e["id"] for r in requests for e in r.json()["data"]["events"]]


def rejected(h: Harness, path: str = "/webhook") -> list[Received]:
    return [r for r in h.sink.on(path) if not r.accepted]


async def cause_events(h: Harness) -> set[Key]:
    """Two waves of changes in separate cycles (3 SMTP failures, then an IMAP failure and a
    heal); returns the (account, kind, status) of every event they must produce."""
    ids = h.fleet.ids()
    for index in (3, 40, 90):
        h.fleet.set_smtp(ids[index], ok=False)
    await h.wait_until(
        lambda: len(h.sink.on("/webhook")) >= 1, 15, "the first attempt at the receiver"
    )
    h.fleet.set_imap(ids[60], ok=False)
    h.fleet.set_smtp(ids[40], ok=True)

    async def second_wave_committed() -> bool:
        return await h.open_issues() == {
            (ids[3], "smtp_failed"),
            (ids[90], "smtp_failed"),
            (
                ids[60],
                "imap_failed",
            ),
        }

    await h.wait_until(second_wave_committed, 15, "the second wave committed")
    return {
        (ids[3], "smtp_failed", "firing"),
        (ids[40], "smtp_failed", "firing"),
        (ids[90], "smtp_failed", "firing"),
        (ids[60], "imap_failed", "firing"),
        (ids[40], "smtp_failed", "resolved"),
    }


def assert_delivered_once(h: Harness, expected: set[Key]) -> None:
    """Every expected event accepted exactly once; every rejected attempt's ids among them."""
    accepted = h.events()
    assert event_keys(accepted) == Counter(dict.fromkeys(expected, 1))
    accepted_ids = [e["id"] for e in accepted]
    assert len(set(accepted_ids)) == len(accepted_ids)
    assert set(ids_in(rejected(h))) <= set(accepted_ids)
    retried = {r.headers["webhook-id"] for r in rejected(h)}
    assert retried <= {r.headers["webhook-id"] for r in h.sink.accepted("/webhook")}


async def test_a_receiver_down_for_a_while_gets_every_event_once_it_recovers(
    make_harness: MakeHarness,
) -> None:
    """A sink answering 500 for several attempts, then 200, receives every event: none lost."""
    h = await make_harness(overrides=QUICK)
    await h.wait_ready()
    h.sink.answer_by_default(Reply(500))
    expected = await cause_events(h)
    await h.wait_until(lambda: len(rejected(h)) >= 3, 15, "three rejected attempts")
    h.sink.answer_by_default(Reply(200))
    await h.wait_until(
        lambda: set(event_keys(h.events())) == expected, 20, "every event after recovery"
    )
    await h.wait_outbox_empty()
    assert_delivered_once(h, expected)
    metrics = await h.metrics_text()
    assert (
        sample(metrics, "smartlead_notifications_total", notifier="webhook", result="failed") >= 3
    )
    assert sample(metrics, "smartlead_outbox_pending", notifier="webhook") == 0


async def test_kill_9_with_deliveries_pending_then_restart_delivers_them(
    make_harness: MakeHarness,
) -> None:
    """Messages pending when the daemon is SIGKILLed go out after a restart, with their ids."""
    h = await make_harness(overrides=QUICK)
    await h.wait_ready()
    h.sink.answer_by_default(Reply(500))
    expected = await cause_events(h)
    await h.wait_until(lambda: len(rejected(h)) >= 2, 15, "two rejected attempts")
    await h.kill9()
    h.sink.answer_by_default(Reply(200))
    await h.restart()
    await h.wait_until(
        lambda: set(event_keys(h.events())) == expected, 20, "every event after the restart"
    )
    await h.wait_polls(failure=2, inventory=1)
    await h.wait_outbox_empty()
    assert_delivered_once(h, expected)


async def test_kill_9_after_delivery_sends_no_duplicate_on_restart(
    make_harness: MakeHarness,
) -> None:
    """Once the outbox recorded every delivery, a SIGKILL and a restart re-send nothing."""
    h = await make_harness(overrides=QUICK)
    await h.wait_ready()
    expected = await cause_events(h)
    await h.wait_until(lambda: set(event_keys(h.events())) == expected, 15, "every event")
    await h.wait_outbox_empty()
    attempts = len(h.sink.received)
    await h.kill9()
    await h.restart()
    await h.wait_polls(failure=3, inventory=1)
    await h.wait_outbox_empty()
    assert len(h.sink.received) == attempts
    assert_delivered_once(h, expected)


async def test_slack_429_with_retry_after_delays_only_slack(make_harness: MakeHarness) -> None:
    """Slack answering 429 `Retry-After: 2` waits ≥ 2 s per retry while the webhook delivers."""
    h = await make_harness(
        overrides=QUICK,
        notifiers=[slack_notifier("{sink}/slack"), webhook_notifier("{sink}/webhook")],
    )
    await h.wait_ready()
    busy = Reply(429, "rate_limited", headers={"Retry-After": "2"})
    h.sink.script(busy, busy, path="/slack")
    ids = h.fleet.ids()
    h.fleet.set_smtp(ids[5], ok=False)
    await h.wait_until(lambda: len(h.sink.on("/slack")) >= 1, 15, "slack's first attempt")
    h.fleet.set_smtp(ids[6], ok=False)
    await h.wait_until(
        lambda: {e["account"]["id"] for e in h.events()} == {ids[5], ids[6]},
        15,
        "both waves at the webhook",
    )
    await h.wait_until(lambda: len(h.sink.accepted("/slack")) >= 2, 20, "both slack messages")

    slack = h.sink.on("/slack")
    assert [r.status for r in slack[:3]] == [429, 429, 200]
    gaps = [h.arrived_at(b) - h.arrived_at(a) for a, b in itertools.pairwise(slack[:3])]
    assert min(gaps) >= 1.9, gaps  # Retry-After honoured (stamps are taken on arrival)
    first_email, second_email = (h.fleet.mailbox(ids[i]).email for i in (5, 6))
    assert first_email in slack[2].body.decode()  # the same message, retried
    assert second_email in slack[3].body.decode()  # then the next one, in order
    second_wave = next(r for r in h.sink.accepted("/webhook") if ids[6] in json_account_ids(r))
    assert h.arrived_at(second_wave) < h.arrived_at(slack[2])  # the webhook did not wait
    assert rejected(h) == []


def json_account_ids(received: Received) -> set[int]:
    return {e["account"]["id"] for e in received.json()["data"]["events"] if e["account"]}


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance: float = 300) -> bool:
    """An independent Standard Webhooks verifier: HMAC-SHA256 over "{id}.{timestamp}.{body}"."""
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret[len("whsec_") :])
    else:
        key = secret.encode("utf-8")
    message_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        return False
    mac = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    wanted = base64.b64encode(mac).decode()
    offered = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split()
        if part.startswith("v1,")
    ]
    return any(hmac.compare_digest(wanted, signature) for signature in offered)


async def test_signed_webhooks_verify_with_an_independent_check(
    make_harness: MakeHarness,
) -> None:
    """With a secret, every attempt carries a valid signature; the retry keeps its webhook-id."""
    whsec = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    plain = "plain-secret-" + secrets.token_hex(8)
    h = await make_harness(
        overrides=QUICK,
        notifiers=[
            webhook_notifier("{sink}/webhook", secret=whsec),
            webhook_notifier("{sink}/plain", name="plain", secret=plain),
        ],
    )
    await h.wait_ready()
    h.sink.script(Reply(500), path="/webhook")
    h.fleet.set_smtp(h.fleet.ids()[9], ok=False)
    await h.wait_until(
        lambda: h.sink.accepted("/webhook") and h.sink.accepted("/plain"), 15, "both delivered"
    )
    signed = [(whsec, r) for r in h.sink.on("/webhook")] + [(plain, r) for r in h.sink.on("/plain")]
    for secret, request in signed:
        assert request.headers["content-type"].startswith("application/json")
        assert verify(secret, request.headers, request.body), request.headers
        assert not verify(secret, request.headers, request.body.replace(b"firing", b"resolved"))
        assert not verify(plain if secret == whsec else whsec, request.headers, request.body)
    first, retry = h.sink.on("/webhook")[:2]
    assert (first.status, retry.status) == (500, 200)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert first.json()["data"] == retry.json()["data"]
    log = h.log_path().read_text()
    assert whsec not in log and whsec[len("whsec_") :] not in log and plain not in log


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of the one sample of `name` whose labels include `labels`."""
    found = []
    for line in exposition.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match is None:
            continue
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1)))
        if all(pairs.get(k) == v for k, v in labels.items()):
            found.append(float(match.group(2)))
    assert len(found) == 1, (name, labels, found)
    return found[0]
