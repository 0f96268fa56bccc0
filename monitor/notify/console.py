"""Console: one structured log line per event, for `demo` and for eyeballing a setup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from monitor.core.model import Event, Status, iso
from monitor.notify import DeliveryResult


def console_fields(event: Event) -> dict[str, Any]:
    """The event flattened into log fields; events carry no secrets, only mailbox facts."""
    fields: dict[str, Any] = {
        "event_id": event.id,
        "workspace": event.workspace,
        "kind": str(event.kind),
        "status": str(event.status),
        "reminder": event.reminder,
    }
    if event.account is not None:
        ref = event.account
        fields |= {
            "account_id": ref.id,
            "email": ref.email,
            "from_name": ref.from_name,
            "esp": ref.esp,
            "client_id": ref.client_id,
        }
    fields["detail"] = dict(event.detail)
    fields["started_at"] = iso(event.started_at)
    if event.resolved_at is not None:
        fields["resolved_at"] = iso(event.resolved_at)
    if event.reason is not None:
        fields["reason"] = str(event.reason)
    return fields


class ConsoleNotifier:
    """Logs events instead of sending them (firing as warnings); never fails."""

    def __init__(self, name: str, *, logger: Any = None) -> None:
        self.name = name
        self.type = "console"
        self._log = logger or structlog.get_logger("monitor.notify.console")

    async def send(self, message_id: str, events: Sequence[Event]) -> DeliveryResult:
        for event in events:
            emit = self._log.warning if event.status is Status.FIRING else self._log.info
            emit("notification", notifier=self.name, message_id=message_id, **console_fields(event))
        return DeliveryResult(ok=True)
