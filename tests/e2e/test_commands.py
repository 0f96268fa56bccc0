"""The other commands and the stop path, as processes: exit codes, output, bounded shutdown."""

from __future__ import annotations

import signal

import pytest
from notify.sink import Reply

from .conftest import MakeHarness
from .harness import Harness

pytestmark = pytest.mark.e2e

QUICK = {"polling": {"failure_interval": 0.5, "inventory_interval": 1.5}}
STOP_BOUND = 10.0  # seconds, contract §2


def plant_smtp(h: Harness, *indexes: int) -> set[tuple[int | None, str]]:
    ids = h.fleet.ids()
    for index in indexes:
        h.fleet.set_smtp(ids[index], ok=False)
    return {(ids[index], "smtp_failed") for index in indexes}


def firing(h: Harness) -> set[tuple[int | None, str]]:
    return {(e["account"]["id"], e["kind"]) for e in h.events() if e["status"] == "firing"}


async def test_sigterm_exits_zero_within_ten_seconds(make_harness: MakeHarness) -> None:
    """An idle daemon stops on SIGTERM with exit code 0, well inside the 10 s bound."""
    h = await make_harness(overrides=QUICK)
    await h.wait_ready()
    code, seconds = await h.stop(signal.SIGTERM)
    assert code == 0, h.stderr_tail()
    assert seconds < STOP_BOUND
    assert [line["event"] for line in h.logs()][-2:] == ["stopping", "stopped"]


async def test_sigint_exits_zero(make_harness: MakeHarness) -> None:
    """Ctrl-C (SIGINT) is a clean stop too."""
    h = await make_harness(overrides=QUICK)
    await h.wait_ready()
    code, seconds = await h.stop(signal.SIGINT)
    assert (code, seconds < STOP_BOUND) == (0, True), h.stderr_tail()


async def test_sigterm_mid_cycle_with_a_hanging_receiver_exits_in_time_and_loses_nothing(
    make_harness: MakeHarness,
) -> None:
    """SIGTERM while a poll hangs and the receiver never answers: exit 0 within 10 s, state
    intact, and the undelivered message goes out (same id) after a restart."""
    h = await make_harness(
        overrides={**QUICK, "polling": {**QUICK["polling"], "retry": {"timeout": 60}}}
    )
    await h.wait_ready()
    h.sink.answer_by_default(Reply(200, hold=True))
    expected = plant_smtp(h, 4)
    await h.sink.wait_for(lambda got: len(got) == 1)
    held_id = h.sink.received[0].json()["data"]["events"][0]["id"]
    hang = h.simulator.faults.delay(60, route="list", times=None)
    await h.wait_until(lambda: hang.hits >= 1, 10, "a poll hanging on the API")

    code, seconds = await h.stop()
    assert code == 0, h.stderr_tail()
    assert seconds < STOP_BOUND

    h.simulator.faults.clear()
    h.sink.answer_by_default(Reply(200))
    await h.restart()
    assert await h.open_issues() == expected
    await h.sink.wait_for(lambda got: any(r.accepted for r in got[1:]), within=15)
    await h.wait_outbox_empty()
    again = [e["id"] for r in h.sink.received[1:] if r.accepted for e in r.json()["data"]["events"]]
    assert again == [held_id]


async def test_once_exits_zero_and_delivers(make_harness: MakeHarness) -> None:
    """`once` polls, delivers every event, exits 0; a second `once` sends nothing new."""
    h = await make_harness(start=False)
    expected = plant_smtp(h, 3, 50, 110)
    first = await h.once()
    assert first.returncode == 0, first.stderr
    assert firing(h) == expected
    assert len(h.events()) == len(expected)
    again = await h.once()
    assert again.returncode == 0, again.stderr
    assert len(h.events()) == len(expected)


async def test_once_exits_one_when_a_poll_fails(make_harness: MakeHarness) -> None:
    """`once` exits 1 when the API keeps failing, without a traceback."""
    h = await make_harness(start=False)
    h.simulator.faults.status(503, route="list", times=None)
    result = await h.once()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout


async def test_once_exits_one_when_delivery_fails_and_a_later_once_delivers(
    make_harness: MakeHarness,
) -> None:
    """`once` exits 1 while the receiver fails; the next `once` delivers the same event, exit 0."""
    h = await make_harness(start=False)
    expected = plant_smtp(h, 8)
    h.sink.answer_by_default(Reply(503))
    failed = await h.once()
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert h.events() == []
    h.sink.answer_by_default(Reply(200))

    async def delivered() -> bool:  # a run inside the 1 s backoff finds nothing due yet
        result = await h.once()
        assert result.returncode in (0, 1), result.stderr
        return result.returncode == 0

    await h.wait_until(delivered, 15, "a later `once` delivering the pending message")
    assert firing(h) == expected
    assert len(h.sink.received) == 2
    first_attempt = h.sink.received[0].json()["data"]["events"]
    assert [e["id"] for e in h.events()] == [e["id"] for e in first_attempt]


async def test_status_prints_the_open_issues_after_a_run(make_harness: MakeHarness) -> None:
    """After `run` stops, `status` lists every open issue from the state file and only those."""
    h = await make_harness(overrides=QUICK)
    expected = plant_smtp(h, 5, 101)
    healed_id = h.fleet.ids()[77]
    h.fleet.set_imap(healed_id, ok=False)
    await h.wait_until(lambda: len(h.events()) >= 3, 15, "three firing events")
    h.fleet.set_imap(healed_id, ok=True)
    await h.wait_until(
        lambda: any(e["status"] == "resolved" for e in h.events()), 15, "imap resolved"
    )
    code, _ = await h.stop()
    assert code == 0
    result = await h.cli("status")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert {(int(row[1]), row[3]) for row in rows} == expected
    assert str(healed_id) not in result.stdout


BROKEN = """\
workspaces:
  - name: default
    api_key: ""
polling:
  failure_interval: -1
  failure_intervall: 3
notifiers:
  - type: webhook
    name: hook
    url: not-a-url
"""


async def test_check_config_on_a_broken_file_exits_two_without_traceback(
    make_harness: MakeHarness,
) -> None:
    """check-config and run name every bad key on stderr, exit 2 and print no traceback."""
    h = await make_harness(start=False)
    broken = h.workdir / "broken.yaml"
    broken.write_text(BROKEN, "utf-8")
    check = await h.cli("check-config", config=broken)
    assert check.returncode == 2
    assert "Traceback" not in check.stderr + check.stdout
    for key in ("api_key", "polling.failure_interval", "failure_intervall", "notifiers[0].url"):
        assert key in check.stderr, key
    run = await h.cli("run", config=broken)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr + run.stdout
    good = await h.cli("check-config")
    assert good.returncode == 0, good.stderr


async def test_notify_test_exits_zero_on_a_healthy_sink_and_one_on_a_failing_one(
    make_harness: MakeHarness,
) -> None:
    """notify-test says which notifier worked: 0 when all did, 1 when the receiver fails."""
    h = await make_harness(start=False)
    healthy = await h.cli("notify-test")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "webhook: ok" in healthy.stdout
    assert len(h.sink.accepted("/webhook")) == 1
    h.sink.answer_by_default(Reply(500))
    failing = await h.cli("notify-test")
    assert failing.returncode == 1
    assert "webhook: FAILED" in failing.stdout
    assert "/webhook" not in failing.stdout + failing.stderr  # a URL's path is a secret
