"""The `notify-test` command: one harmless test event through every configured notifier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from monitor.config import Settings
from monitor.core.model import AccountRef, Event, IssueKey, IssueKind, Status, event_id
from monitor.notify.factory import build_notifiers

TEST_WORKSPACE = "notify-test"


def sample_event(now: datetime) -> Event:
    """A resolved sample event, clearly labelled, so no receiver pages anyone for it."""
    key = IssueKey(TEST_WORKSPACE, 0, IssueKind.SMTP_FAILED)
    return Event(
        id=event_id(key, now, Status.RESOLVED),
        key=key,
        status=Status.RESOLVED,
        account=AccountRef(0, "test@example.com", "smartlead-monitor test", "SMTP", None),
        detail={"error": "This is a test message from smartlead-monitor notify-test."},
        started_at=now - timedelta(minutes=5),
        resolved_at=now,
    )


async def send_test(settings: Settings) -> dict[str, str | None]:
    """Notifier name -> None when it worked, else a short (redacted) reason."""
    now = datetime.now(UTC)
    event = sample_event(now)
    results: dict[str, str | None] = {}
    async with aiohttp.ClientSession() as session:
        notifiers = build_notifiers(
            settings.notifiers,
            session,
            generator_url="http://localhost/api/v1/issues",
            ends_in=timedelta(minutes=5),
        )
        for notifier in notifiers:
            result = await notifier.send(f"notify-test-{event.id}", [event])
            results[notifier.name] = None if result.ok else (result.error or "failed")
    return results
