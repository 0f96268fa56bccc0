"""Who hears about what: silences, routes, and one message per notifier per cycle."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from monitor.config import Matcher, Route, Silence
from monitor.core.lifecycle import firing_event
from monitor.core.model import AccountRef, Event, Issue, IssueKey, Status

_MESSAGE_NAMESPACE = uuid.UUID("0d9b3a6e-27a4-4c55-9a1e-3f4f0c6b2e71")


@dataclass(frozen=True, slots=True)
class Target:
    """A configured notifier, as routing needs to know it."""

    name: str
    reposts_open_issues: bool = False  # Alertmanager: every open issue, every cycle


@dataclass(frozen=True, slots=True)
class Message:
    """One cycle's events for one notifier; its id is stable for a replayed cycle."""

    id: str
    notifier: str
    events: tuple[Event, ...]


def matches(matcher: Matcher, key: IssueKey, account: AccountRef | None) -> bool:
    """Every field given must match; account fields never match a workspace-level issue."""
    if matcher.workspace is not None and key.workspace not in matcher.workspace:
        return False
    if matcher.kind is not None and key.kind not in matcher.kind:
        return False
    account_fields = (matcher.account_id, matcher.email, matcher.client_id, matcher.esp)
    if all(field is None for field in account_fields):
        return True
    if account is None:
        return False
    if matcher.account_id is not None and account.id not in matcher.account_id:
        return False
    if matcher.client_id is not None and account.client_id not in matcher.client_id:
        return False
    if matcher.esp is not None and account.esp.upper() not in {e.upper() for e in matcher.esp}:
        return False
    email = account.email.lower()
    return matcher.email is None or any(fnmatchcase(email, g.lower()) for g in matcher.email)


def silenced(
    silences: Sequence[Silence], key: IssueKey, account: AccountRef | None, now: datetime
) -> bool:
    """A silence holds until its `until` (forever without one)."""
    return any(
        (s.until is None or now < s.until) and matches(s.match, key, account) for s in silences
    )


def destinations(event: Event, routes: Sequence[Route], names: Sequence[str]) -> list[str]:
    """Notifier names for one event: first matching route wins unless it says `continue`.

    Unmatched events go to every notifier. Routes may name notifiers that are configured
    but off (no URL); those are skipped.
    """
    chosen: list[str] = []
    for route in routes:
        if matches(route.match, event.key, event.account):
            chosen += [n for n in route.notifiers if n in names and n not in chosen]
            if not route.continue_:
                return chosen
    return (
        chosen if any(matches(r.match, event.key, event.account) for r in routes) else list(names)
    )


def plan(
    events: Iterable[Event],
    open_issues: Iterable[Issue],
    targets: Sequence[Target],
    routes: Sequence[Route],
    silences: Sequence[Silence],
    now: datetime,
    cycle: str,
) -> list[Message]:
    """The outbox messages of one cycle. `cycle` names it (workspace, poll, time).

    Silenced events are tracked and exported elsewhere but told to nobody. Notifiers that
    re-post open issues get every open issue as a firing event, plus this cycle's resolves,
    and no reminders (they repeat on their own).
    """
    names = [t.name for t in targets]
    per_target: dict[str, list[Event]] = {name: [] for name in names}
    reposting = {t.name for t in targets if t.reposts_open_issues}
    for event in events:
        if silenced(silences, event.key, event.account, now):
            continue
        for name in destinations(event, routes, names):
            if name in reposting and event.status is Status.FIRING:
                continue  # the open issue below carries it
            per_target[name].append(event)
    if reposting:
        for issue in sorted(open_issues, key=lambda i: i.key.order):
            if not issue.firing or silenced(silences, issue.key, issue.account, now):
                continue
            fire = firing_event(issue)
            for name in destinations(fire, routes, names):
                if name in reposting:
                    per_target[name].append(fire)
    return [
        Message(_message_id(name, cycle, grouped), name, tuple(grouped))
        for name, grouped in per_target.items()
        if grouped
    ]


def _message_id(notifier: str, cycle: str, events: Sequence[Event]) -> str:
    name = "|".join([notifier, cycle, *(e.id for e in events)])
    return str(uuid.uuid5(_MESSAGE_NAMESPACE, name))
