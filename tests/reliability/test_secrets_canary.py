"""Canary secrets through a whole daemon run that also takes the error paths (401, 4xx quoting
the key, 5xx echoing passwords, garbage bodies, receiver errors and outages): not one of them,
in any encoding, reaches a log line, a byte of the state files, a payload, /metrics or
/api/v1/* (contract §10)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from e2e.harness import slack_notifier, webhook_notifier
from notify.sink import Reply

from .conftest import MakeRig
from .rig import Rig

pytestmark = pytest.mark.e2e

API_KEY = "sk-CANARY-apikey-5f2c1e9d7a"
SMTP_PASSWORD = "pw-CANARY-smtp-8d41a7c0"
IMAP_PASSWORD = "pw-CANARY-imap-3b92fe51"
HOOK_TOKEN = "CANARY-hooktoken-71c0d2e4"
SLACK_TOKEN = "CANARYslackTOKEN9f8e7d6c"
SIGNING_KEY = b"CANARY-signing-key-0a9b8c"
SIGNING_SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()
SMTP = {"isSmtpSuccess": "false"}
BLOCKED = {"isWarmupBlocked": "true"}
ENDPOINTS = ("/metrics", "/api/v1/issues", "/api/v1/status", "/readyz", "/healthz")


def needles() -> dict[str, bytes]:
    """Every form a canary could leak in: as given, base64 (list rows carry passwords so),
    and the signing key's raw and encoded halves."""
    found: dict[str, bytes] = {}
    for name, secret in (
        ("api key", API_KEY),
        ("smtp password", SMTP_PASSWORD),
        ("imap password", IMAP_PASSWORD),
        ("webhook url token", HOOK_TOKEN),
        ("slack url token", SLACK_TOKEN),
        ("signing secret", SIGNING_SECRET),
    ):
        found[name] = secret.encode()
        found[f"{name} (base64)"] = base64.b64encode(secret.encode())
    found["signing key (raw)"] = SIGNING_KEY
    found["signing key (base64)"] = SIGNING_SECRET.removeprefix("whsec_").encode()
    return found


class Haystacks:
    """Everything the daemon let out during the run, by where it was found."""

    def __init__(self) -> None:
        self.places: dict[str, bytes] = {}

    def add(self, place: str, data: bytes) -> None:
        self.places[place] = self.places.get(place, b"") + b"\n" + data

    def add_state(self, state: Path, when: str) -> None:
        for path in sorted(state.parent.glob(state.name + "*")):  # the file, -wal, -shm
            self.add(f"{path.name} ({when})", path.read_bytes())

    async def add_endpoints(self, rig: Rig, when: str) -> None:
        for path in ENDPOINTS:
            status, body = await rig.h.get(path)
            assert status in (200, 503), (path, status)
            self.add(f"GET {path} ({when})", str(body).encode())

    def leaks(self, secrets: dict[str, bytes]) -> list[str]:
        return [
            f"{name} in {place}"
            for place, data in self.places.items()
            for name, needle in secrets.items()
            if needle in data
        ]


async def sample(rig: Rig, seen: Haystacks, name: str, reached: Callable[[], bool]) -> None:
    """Wait until an error path was taken, then sample every endpoint and the state files."""
    await rig.h.wait_until(reached, 20, name)
    await seen.add_endpoints(rig, name)
    seen.add_state(rig.h.state_path, name)


def answered(rig: Rig, status: int) -> int:
    return rig.h.simulator.statuses().count(status)


def retries(rig: Rig) -> list[dict[str, Any]]:
    return [r for r in rig.h.logs() if r.get("event") == "notification failed; will retry"]


def echoing(*texts: str) -> bytes:
    return ('{"error": "' + " ".join(texts) + '"}').encode()


async def test_canary_secrets_never_leave_the_daemon(make_rig: MakeRig) -> None:
    """No canary secret in any log line, state byte, payload or endpoint, error paths included."""
    rig = await make_rig(
        accounts=140,
        seed=31,
        api_key=API_KEY,
        notifiers=[
            webhook_notifier("{sink}/hooks/" + HOOK_TOKEN, secret=SIGNING_SECRET),
            slack_notifier("{sink}/services/T0/B0/" + SLACK_TOKEN),
        ],
        overrides={"logging": {"level": "debug"}},
        start=False,
    )
    rig.webhook_path = "/hooks/" + HOOK_TOKEN
    ids = list(rig.fleet.ids())
    for account_id in ids:
        rig.fleet.set_passwords(account_id, SMTP_PASSWORD, IMAP_PASSWORD)
    for account_id in ids[:8]:
        rig.world.set_failing(account_id, "smtp", True)
    assert base64.b64encode(SMTP_PASSWORD.encode()) in rig.fleet.list_row(ids[0])
    seen = Haystacks()
    await rig.h.start()
    await rig.h.wait_ready()
    await rig.settle()
    await sample(rig, seen, "healthy run", lambda: True)

    rig.h.simulator.revoke_key()
    await sample(rig, seen, "key revoked (401)", lambda: answered(rig, 401) >= 3)
    rig.h.simulator.restore_key()

    faults = rig.faults
    faults.status(422, body=b'{"message": "api_key ' + API_KEY.encode() + b' is invalid"}')
    faults.status(500, times=6, body=echoing(SMTP_PASSWORD, IMAP_PASSWORD, API_KEY))
    quoting_password = b'{"message": "login failed, password: ' + SMTP_PASSWORD.encode() + b'"}'
    faults.status(400, route="by_id", times=None, body=quoting_password)
    # Still failing but left out of the failing list: only a by-id answer can tell, so the
    # daemon asks by id whatever the order of its polls (a healed account would be resolved
    # by the next inventory first, and then never looked up).
    faults.drift(omit=ids[:4], filters=SMTP, times=None)
    await sample(
        rig,
        seen,
        "4xx quoting key and password, 5xx echoing them",
        lambda: all(answered(rig, status) for status in (422, 500, 400)),
    )
    faults.clear()
    garbage = [
        faults.malformed("html", filters=SMTP),
        faults.malformed("object", filters=BLOCKED),
        faults.malformed("truncated", offset=100),  # the inventory's second page
        faults.malformed("truncated", route="by_id"),
    ]
    for account_id in ids[4:6]:
        rig.world.set_failing(account_id, "smtp", False)
    await sample(rig, seen, "garbage bodies", lambda: all(f.hits for f in garbage))

    failed = len(retries(rig))
    await rig.sink.down()
    rig.world.set_failing(ids[20], "imap", True)
    await sample(rig, seen, "receiver down", lambda: len(retries(rig)) > failed)
    echo = f"no such hook /hooks/{HOOK_TOKEN} /services/T0/B0/{SLACK_TOKEN}"
    for status in (500, 503, 404, 429):  # each fails one message once
        rig.sink.script(Reply(status, echo), Reply(200))
    await rig.sink.up()
    rig.world.set_failing(ids[21], "blocked", True)
    await rig.settle(timeout=40)
    await seen.add_endpoints(rig, "end of run")
    seen.add_state(rig.h.state_path, "running")
    code, _ = await rig.h.stop()
    assert code == 0
    seen.add_state(rig.h.state_path, "after stop")
    listing = await rig.h.cli("status")
    seen.add("`status` output", (listing.stdout + listing.stderr).encode())
    for log in sorted(rig.h.workdir.glob("daemon-*")):
        seen.add(log.name, log.read_bytes())
    for request in rig.sink.received:
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        seen.add(f"request to sink ({request.status})", headers.encode() + b"\n" + request.body)

    assert not seen.leaks(needles()), seen.leaks(needles())
    assert_exercised(rig, seen.places.values())
    given = Haystacks()  # the search finds every canary where the daemon was given it
    given.add("config", rig.h.config_path.read_bytes())
    given.add("list row", rig.fleet.list_row(ids[0]))
    found = {leak.split(" in ")[0] for leak in given.leaks(needles())}
    assert found >= {"api key", "webhook url token", "slack url token", "signing secret"}
    assert found >= {"smtp password (base64)", "imap password (base64)"}


def assert_exercised(rig: Rig, outputs: Iterable[bytes]) -> None:
    """The run took every error path and produced real output, so finding nothing means
    something."""
    answered = set(rig.h.simulator.statuses())
    assert {200, 401, 422, 400, 500} <= answered, answered
    assert {r.status for r in rig.sink.received} >= {200, 500, 503, 404, 429}
    assert {r.path.split("/")[1] for r in rig.sink.accepted()} == {"hooks", "services"}
    text = b"\n".join(outputs)
    assert b"api_key=***" in text  # request URLs were logged, redacted
    assert b'"notification failed; will retry"' in text
    assert b"smartlead_issue_open{" in text
