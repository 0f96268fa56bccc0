"""Against a real Alertmanager: our alert fires through its routing, and its resolve arrives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from monitor.core.model import IssueKind, Status
from monitor.notify.alertmanager import AlertmanagerNotifier

from .events import EVE, make_event
from .sink import Received, WebhookSink

GENERATOR = "http://monitor.example:9877/api/v1/issues"


def notifications(received: list[Received], status: str) -> list[dict[str, Any]]:
    """Alertmanager webhook notifications with the given group status."""
    bodies = [r.json() for r in received if r.path == "/alertmanager"]
    return [b for b in bodies if b["status"] == status]


async def test_alert_fires_and_resolves_through_alertmanager(
    alertmanager: tuple[str, WebhookSink], session: aiohttp.ClientSession
) -> None:
    """A monitor alert is routed to the webhook receiver firing, then resolved, with our labels."""
    base, sink = alertmanager
    notifier = AlertmanagerNotifier(
        "am", base, session, ends_in=timedelta(minutes=15), generator_url=GENERATOR
    )
    since = datetime.now(UTC) - timedelta(minutes=5)
    firing = make_event(IssueKind.IMAP_FAILED, EVE, since=since, detail={"error": "IMAP login"})
    assert (await notifier.send("cycle-1", [firing])).ok

    received = await sink.wait_for(lambda got: bool(notifications(got, "firing")), within=10)
    (alert,) = notifications(received, "firing")[0]["alerts"]
    assert alert["labels"] == {
        "alertname": "SmartLeadImapFailed",
        "workspace": "default",
        "account_id": "456",
        "email": "eve@client.example",
        "esp": "OUTLOOK",
        "client_id": "7",
        "severity": "critical",
    }
    assert alert["annotations"]["summary"] == "IMAP failed: eve@client.example (default)"
    assert alert["generatorURL"] == GENERATOR

    resolved = make_event(
        IssueKind.IMAP_FAILED,
        EVE,
        status=Status.RESOLVED,
        since=since,
        resolved_at=datetime.now(UTC),
        detail={"error": "IMAP login"},
    )
    assert (await notifier.send("cycle-2", [resolved])).ok
    received = await sink.wait_for(lambda got: bool(notifications(got, "resolved")), within=10)
    (done,) = notifications(received, "resolved")[0]["alerts"]
    assert done["status"] == "resolved"
    assert done["labels"]["alertname"] == "SmartLeadImapFailed"
    assert done["labels"]["account_id"] == "456"
