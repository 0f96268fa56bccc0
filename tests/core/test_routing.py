"""Who hears about what: matchers, silences, routes, and the messages of one cycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from monitor.config import Matcher, Route, Silence
from monitor.core.lifecycle import firing_event
from monitor.core.model import (
    AccountRef,
    Event,
    Issue,
    IssueKey,
    IssueKind,
    ResolveReason,
    Status,
    event_id,
)
from monitor.core.routing import Target, destinations, matches, plan, silenced

from .factories import WS, at, key

NOW = at(0)
BOX = AccountRef(7, "John.Doe@Example.com", "John Doe", "GMAIL", 42)
LONER = AccountRef(8, "solo@other.io", "Solo", "OUTLOOK", None)
SMTP_KEY = key(IssueKind.SMTP_FAILED, 7)
AUTH_KEY = key(IssueKind.API_AUTH_FAILED)


def matcher(**fields: Any) -> Matcher:
    return Matcher.model_validate(fields)


def route(notifiers: list[str], cont: bool = False, **fields: Any) -> Route:
    return Route.model_validate({"match": fields, "notifiers": notifiers, "continue": cont})


def silence(until: datetime | None = None, **fields: Any) -> Silence:
    return Silence.model_validate({"match": fields, "until": until, "reason": "maintenance"})


def event(
    kind: IssueKind = IssueKind.SMTP_FAILED,
    ref: AccountRef | None = BOX,
    status: Status = Status.FIRING,
    *,
    reminder: int = 0,
    workspace: str = WS,
) -> Event:
    issue_key = IssueKey(workspace, None if kind.workspace_level or ref is None else ref.id, kind)
    resolved = status is Status.RESOLVED
    return Event(
        id=event_id(issue_key, at(-3600), status, reminder),
        key=issue_key,
        status=status,
        account=None if kind.workspace_level else ref,
        detail={"error": "535 Authentication failed"},
        started_at=at(-3600),
        resolved_at=NOW if resolved else None,
        reminder=reminder > 0,
        reason=ResolveReason.RECOVERED if resolved else None,
    )


def open_issue(
    kind: IssueKind = IssueKind.SMTP_FAILED, ref: AccountRef | None = BOX, *, firing: bool = True
) -> Issue:
    issue_key = IssueKey(WS, None if kind.workspace_level or ref is None else ref.id, kind)
    return Issue(
        key=issue_key,
        account=None if kind.workspace_level else ref,
        since=at(-3600),
        detail={"error": "535 Authentication failed"},
        observed_at=at(-300),
        firing=firing,
        failing_streak=1,
    )


# --- matchers -----------------------------------------------------------------------------

MATCHES: list[tuple[str, dict[str, Any], IssueKey, AccountRef | None, bool]] = [
    ("empty matches an account issue", {}, SMTP_KEY, BOX, True),
    ("empty matches a workspace issue", {}, AUTH_KEY, None, True),
    ("workspace in the list", {"workspace": ["x", WS]}, SMTP_KEY, BOX, True),
    ("workspace not in the list", {"workspace": ["x"]}, SMTP_KEY, BOX, False),
    ("workspace matches a workspace issue", {"workspace": [WS]}, AUTH_KEY, None, True),
    ("kind in the list", {"kind": ["imap_failed", "smtp_failed"]}, SMTP_KEY, BOX, True),
    ("kind not in the list", {"kind": ["imap_failed"]}, SMTP_KEY, BOX, False),
    ("kind of a workspace issue", {"kind": ["api_auth_failed"]}, AUTH_KEY, None, True),
    ("account id", {"account_id": [1, 7]}, SMTP_KEY, BOX, True),
    ("another account id", {"account_id": [1]}, SMTP_KEY, BOX, False),
    ("email glob ignores case", {"email": ["*@example.COM"]}, SMTP_KEY, BOX, True),
    ("email exact ignores case", {"email": ["john.doe@example.com"]}, SMTP_KEY, BOX, True),
    ("email glob any of", {"email": ["*@a.io", "john.*"]}, SMTP_KEY, BOX, True),
    ("email glob misses", {"email": ["*@example.org"]}, SMTP_KEY, BOX, False),
    ("email glob is anchored", {"email": ["doe@example.com"]}, SMTP_KEY, BOX, False),
    ("client id", {"client_id": [42]}, SMTP_KEY, BOX, True),
    ("another client id", {"client_id": [43]}, SMTP_KEY, BOX, False),
    ("no client matches null", {"client_id": [None]}, key(IssueKind.SMTP_FAILED, 8), LONER, True),
    ("null does not match a client", {"client_id": [None]}, SMTP_KEY, BOX, False),
    (
        "'none' matches no client",
        {"client_id": ["none"]},
        key(IssueKind.SMTP_FAILED, 8),
        LONER,
        True,
    ),
    ("esp ignores case", {"esp": ["gmail"]}, SMTP_KEY, BOX, True),
    ("another esp", {"esp": ["OUTLOOK"]}, SMTP_KEY, BOX, False),
    ("every field must match", {"esp": ["GMAIL"], "client_id": [1]}, SMTP_KEY, BOX, False),
    (
        "all fields match",
        {
            "workspace": [WS],
            "kind": ["smtp_failed"],
            "esp": ["GMAIL"],
            "client_id": [42],
            "email": ["*doe*"],
        },
        SMTP_KEY,
        BOX,
        True,
    ),
    ("account field never matches workspace issue", {"client_id": [None]}, AUTH_KEY, None, False),
    ("email never matches workspace issue", {"email": ["*"]}, AUTH_KEY, None, False),
    (
        "esp never matches workspace issue",
        {"esp": ["GMAIL"], "workspace": [WS]},
        AUTH_KEY,
        None,
        False,
    ),
]


@pytest.mark.parametrize(
    ("fields", "issue_key", "ref", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in MATCHES],
)
def test_matcher_table(
    fields: dict[str, Any], issue_key: IssueKey, ref: AccountRef | None, expected: bool
) -> None:
    """Every given field must match; lists are any-of; account fields skip workspace issues."""
    assert matches(matcher(**fields), issue_key, ref) is expected


# --- silences -------------------------------------------------------------------------------

SILENCES: list[tuple[str, list[Silence], bool]] = [
    ("no silences", [], False),
    ("forever", [silence(kind=["smtp_failed"])], True),
    ("until later", [silence(NOW + timedelta(hours=1), esp=["GMAIL"])], True),
    ("expired", [silence(NOW - timedelta(seconds=1), esp=["GMAIL"])], False),
    ("expiring right now", [silence(NOW, esp=["GMAIL"])], False),
    ("another mailbox", [silence(email=["*@other.io"])], False),
    (
        "an expired and a live one",
        [silence(NOW - timedelta(days=1), account_id=[7]), silence(client_id=[42])],
        True,
    ),
]


@pytest.mark.parametrize(
    ("silences", "expected"), [pytest.param(*case[1:], id=case[0]) for case in SILENCES]
)
def test_silence_table(silences: list[Silence], expected: bool) -> None:
    """A matching silence holds until `until` (forever without one); expired ones are ignored."""
    assert silenced(silences, SMTP_KEY, BOX, NOW) is expected


def test_a_silence_expires_with_time() -> None:
    """The same silence holds before `until` and not after."""
    rule = [silence(NOW + timedelta(hours=2), account_id=[7])]
    assert silenced(rule, SMTP_KEY, BOX, NOW + timedelta(hours=1))
    assert not silenced(rule, SMTP_KEY, BOX, NOW + timedelta(hours=3))


@pytest.mark.parametrize("until", ["2026-11-28T11:00:00", "2026-11-28T11:00:00Z"])
def test_a_silence_until_without_zone_is_utc(until: str) -> None:
    """`until` written without a zone (quoted, or from an env var) is UTC and compares."""
    rule = [Silence.model_validate({"match": {"esp": ["GMAIL"]}, "until": until})]
    assert silenced(rule, SMTP_KEY, BOX, NOW + timedelta(minutes=59))
    assert not silenced(rule, SMTP_KEY, BOX, NOW + timedelta(minutes=61))


def test_an_account_silence_does_not_silence_the_workspace() -> None:
    """Silencing a mailbox never hides api_auth_failed."""
    assert not silenced([silence(email=["*"])], AUTH_KEY, None, NOW)
    assert silenced([silence(workspace=[WS])], AUTH_KEY, None, NOW)


# --- routes ---------------------------------------------------------------------------------

NAMES = ["slack", "webhook", "alertmanager"]

ROUTES: list[tuple[str, list[Route], Event, list[str]]] = [
    ("no routes: everyone", [], event(), NAMES),
    ("unmatched: everyone", [route(["slack"], client_id=[1])], event(), NAMES),
    (
        "first match wins",
        [route(["slack"], esp=["GMAIL"]), route(["webhook"], kind=["smtp_failed"])],
        event(),
        ["slack"],
    ),
    (
        "continue goes on",
        [
            route(["slack"], True, esp=["GMAIL"]),
            route(["webhook"], kind=["smtp_failed"]),
            route(["alertmanager"]),
        ],
        event(),
        ["slack", "webhook"],
    ),
    (
        "continue to an unmatched route",
        [route(["slack"], True, esp=["GMAIL"]), route(["webhook"], client_id=[1])],
        event(),
        ["slack"],
    ),
    ("a route to several", [route(["webhook", "slack"])], event(), ["webhook", "slack"]),
    (
        "no duplicates across routes",
        [route(["slack"], True), route(["slack", "webhook"])],
        event(),
        ["slack", "webhook"],
    ),
    (
        "unconfigured notifier skipped",
        [route(["pager", "webhook"], esp=["GMAIL"])],
        event(),
        ["webhook"],
    ),
    (
        "workspace issue skips account routes",
        [route(["slack"], client_id=[42])],
        event(IssueKind.API_AUTH_FAILED),
        NAMES,
    ),
    (
        "workspace issue by kind",
        [route(["webhook"], kind=["api_auth_failed"])],
        event(IssueKind.API_AUTH_FAILED),
        ["webhook"],
    ),
    (
        "a client's mailboxes",
        [route(["slack"], client_id=[42]), route(["webhook"])],
        event(),
        ["slack"],
    ),
    (
        "other clients fall through",
        [route(["slack"], client_id=[42]), route(["webhook"])],
        event(ref=LONER),
        ["webhook"],
    ),
]


@pytest.mark.parametrize(
    ("routes", "routed", "expected"), [pytest.param(*case[1:], id=case[0]) for case in ROUTES]
)
def test_route_table(routes: list[Route], routed: Event, expected: list[str]) -> None:
    """First matching route wins unless `continue`; unmatched events go to every notifier."""
    assert destinations(routed, routes, NAMES) == expected


def test_a_matched_route_to_only_unconfigured_notifiers_tells_nobody() -> None:
    """A route whose notifiers are all off still claims its events (they are not re-routed)."""
    routes = [route(["pager"], esp=["GMAIL"]), route(["webhook"])]
    assert destinations(event(), routes, NAMES) == []


# --- plan -----------------------------------------------------------------------------------

SLACK, HOOK, AM = Target("slack"), Target("webhook"), Target("alertmanager", True)


def test_one_message_per_notifier_per_cycle() -> None:
    """A cycle's events are grouped into one message per notifier, in order."""
    events = [event(), event(IssueKind.IMAP_FAILED), event(status=Status.RESOLVED)]
    messages = plan(events, [], [SLACK, HOOK], [], [], NOW, "default/failure/1")
    assert [m.notifier for m in messages] == ["slack", "webhook"]
    assert all(m.events == tuple(events) for m in messages)
    assert messages[0].id != messages[1].id


def test_message_ids_are_stable() -> None:
    """The same cycle and events give the same message id; another cycle a new one."""
    events = [event(), event(IssueKind.IMAP_FAILED)]
    first = plan(events, [], [SLACK], [], [], NOW, "default/failure/1")
    again = plan(events, [], [SLACK], [], [], NOW, "default/failure/1")
    later = plan(events, [], [SLACK], [], [], NOW, "default/failure/2")
    fewer = plan(events[:1], [], [SLACK], [], [], NOW, "default/failure/1")
    assert first[0].id == again[0].id
    assert len({first[0].id, later[0].id, fewer[0].id}) == 3


def test_no_events_no_messages() -> None:
    """A quiet cycle writes nothing to the outbox."""
    assert plan([], [], [SLACK, HOOK], [], [], NOW, "c") == []


def test_silenced_events_go_to_nobody() -> None:
    """A silenced event is dropped for every notifier; the others still go out."""
    events = [event(), event(ref=LONER)]
    silences = [silence(NOW + timedelta(hours=1), client_id=[42])]
    messages = plan(events, [], [SLACK, HOOK], [], silences, NOW, "c")
    assert [[e.account for e in m.events] for m in messages] == [[LONER], [LONER]]


def test_an_expired_silence_lets_events_through() -> None:
    """Once `until` has passed, events are told again."""
    silences = [silence(NOW - timedelta(minutes=1), client_id=[42])]
    assert len(plan([event()], [], [SLACK], [], silences, NOW, "c")) == 1


def test_routes_split_a_cycle() -> None:
    """Each notifier's message holds only the events routed to it."""
    events = [event(), event(ref=LONER)]
    routes = [route(["slack"], client_id=[42]), route(["webhook"])]
    messages = plan(events, [], [SLACK, HOOK], routes, [], NOW, "c")
    assert {m.notifier: [e.account for e in m.events] for m in messages} == {
        "slack": [BOX],
        "webhook": [LONER],
    }


def test_alertmanager_gets_every_open_issue_each_cycle() -> None:
    """A re-posting target gets all firing issues as firing events, even in a quiet cycle."""
    issues = [open_issue(), open_issue(IssueKind.IMAP_FAILED, LONER)]
    messages = plan([], issues, [SLACK, AM], [], [], NOW, "c")
    assert [m.notifier for m in messages] == ["alertmanager"]
    sent = messages[0].events
    assert {e.key for e in sent} == {i.key for i in issues}
    assert all(e.status is Status.FIRING and not e.reminder for e in sent)
    assert {e.id for e in sent} == {firing_event(i).id for i in issues}


def test_alertmanager_gets_resolves_but_no_reminders() -> None:
    """Resolves reach Alertmanager; reminders and fires come only through the open issues."""
    resolved = event(IssueKind.IMAP_FAILED, status=Status.RESOLVED)
    reminder = event(reminder=1)
    messages = plan([resolved, reminder], [open_issue()], [SLACK, AM], [], [], NOW, "c")
    by_name = {m.notifier: m.events for m in messages}
    assert by_name["slack"] == (resolved, reminder)
    assert [(e.status, e.reminder) for e in by_name["alertmanager"]] == [
        (Status.RESOLVED, False),
        (Status.FIRING, False),
    ]


def test_alertmanager_skips_pending_and_silenced_issues() -> None:
    """Only firing, non-silenced issues are re-posted."""
    issues = [open_issue(firing=False), open_issue(IssueKind.IMAP_FAILED, LONER)]
    silences = [silence(account_id=[8])]
    assert plan([], issues, [AM], [], silences, NOW, "c") == []


def test_alertmanager_reposts_follow_routes() -> None:
    """An open issue routed away from Alertmanager is not re-posted to it."""
    issues = [open_issue(), open_issue(ref=LONER)]
    routes = [route(["slack"], client_id=[42])]
    messages = plan([], issues, [SLACK, AM], routes, [], NOW, "c")
    assert [(m.notifier, [e.account for e in m.events]) for m in messages] == [
        ("alertmanager", [LONER]),
    ]


def test_a_fire_reaches_alertmanager_once() -> None:
    """A fire in this cycle is not sent twice to Alertmanager (event and open issue)."""
    issue = open_issue()
    fired = firing_event(issue)
    messages = plan([fired], [issue], [SLACK, AM], [], [], NOW, "c")
    assert {m.notifier: len(m.events) for m in messages} == {"slack": 1, "alertmanager": 1}


def test_alertmanager_reposts_workspace_and_account_issues_together() -> None:
    """plan() re-posts an open api_auth_failed beside open account issues without crashing."""
    ref = AccountRef(7, "a@example.com", "A", "GMAIL", None)
    issues = [
        Issue(IssueKey(WS, 7, IssueKind.SMTP_FAILED), ref, at(0), {}, at(0), firing=True),
        Issue(IssueKey(WS, None, IssueKind.API_AUTH_FAILED), None, at(0), {}, at(0), firing=True),
    ]
    messages = plan([], issues, [Target("alertmanager", True)], [], [], at(60), "c")
    assert [len(m.events) for m in messages] == [2]
