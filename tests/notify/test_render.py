"""Pure renderers: Slack Block Kit, the webhook body and Alertmanager alerts."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.model import AccountRef, IssueKind, Status
from monitor.notify.alertmanager import render_alertmanager
from monitor.notify.slack import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    escape,
    escape_clipped,
    render_slack,
)
from monitor.notify.webhook import body_schema, render_webhook

from .events import EVIL, JOHN, NOW, make_event, mixed_events
from .golden import GOLDEN, check_golden

ENDS_IN = timedelta(minutes=15)
GENERATOR = "http://monitor.example:9877/api/v1/issues"
_BARE_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def texts(payload: dict[str, Any]) -> list[str]:
    """Every text field of a Slack payload, the fallback included."""
    found = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [element["text"] for element in block.get("elements", [])]
    return found


def text_objects(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found = [b["text"] for b in payload["blocks"] if "text" in b]
    return found + [e for b in payload["blocks"] for e in b.get("elements", [])]


def test_slack_golden() -> None:
    """The Slack message for a mixed group of events is exactly the reviewed one."""
    check_golden("slack.json", render_slack(mixed_events(), NOW))


def test_slack_hostile_error_text_is_inert() -> None:
    """`<!channel> <https://evil.example|x> & co` cannot ping anyone or become a link."""
    payload = render_slack(mixed_events(), NOW)
    everything = "\n".join(texts(payload))
    assert "<" not in everything
    assert not _BARE_AMP.search(everything)
    assert "&lt;!channel&gt; &lt;https://evil.example|x&gt; &amp; co" in everything
    assert escape(EVIL) in everything
    assert "Eve &lt;Ops&gt; &amp; Co" in everything
    mrkdwn = [t for t in text_objects(payload) if t["type"] == "mrkdwn"]
    assert mrkdwn and all(t["verbatim"] is True for t in mrkdwn)
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False


def test_slack_lines_carry_who_what_and_since() -> None:
    """Each event line names mailbox, sender name, client, kind, error and timing."""
    blocks = render_slack(mixed_events(), NOW)["blocks"]
    lines = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(lines) == len(mixed_events())
    first, reminder, resolved, removed, workspace = lines[0], lines[2], lines[4], lines[5], lines[6]
    assert "john@example.com (John Doe)" in first and "no client" in first
    assert "SMTP failed" in first and "535 Authentication failed" in first
    assert "since 2026-11-28 09:55 UTC (5m)" in first
    assert "Reminder" in reminder and "still failing" in reminder and "(4h 10m)" in reminder
    assert "client 7" in resolved and "was down 1h 5m" in resolved
    assert "reason: recovered" in resolved
    assert "reason: account_removed" in removed and "was down 2d 3h" in removed
    assert "workspace default" in workspace and "HTTP 401: Invalid API key" in workspace
    assert "@" not in workspace


def test_slack_header_counts_per_status_and_kind() -> None:
    """The header counts firing (and reminders) and resolved; context counts per kind."""
    payload = render_slack(mixed_events(), NOW)
    header, context = payload["blocks"][0], payload["blocks"][1]
    assert header["type"] == "header"
    assert header["text"]["text"] == "SmartLead default: 5 firing (1 reminder), 3 resolved"
    assert payload["text"] == header["text"]["text"]
    counts = context["elements"][0]["text"]
    assert "*SMTP failed*: 1 firing, 1 resolved" in counts
    assert "*API unavailable*: 1 resolved" in counts


def test_slack_caps_blocks_and_summarises_the_rest() -> None:
    """200 events make exactly 50 blocks, the last one saying how many were left out."""
    events = [
        make_event(IssueKind.SMTP_FAILED, AccountRef(i, f"m{i}@x.example", "", "GMAIL", None))
        for i in range(200)
    ]
    payload = render_slack(events, NOW)
    blocks = payload["blocks"]
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-1]["type"] == "context"
    shown = sum(1 for b in blocks if b["type"] == "section")
    assert blocks[-1]["elements"][0]["text"] == f"+{200 - shown} more"
    assert "200 firing" in blocks[0]["text"]["text"]


def test_slack_exactly_full_message_needs_no_summary() -> None:
    """48 events fit in 50 blocks without a "+N more" line."""
    events = [
        make_event(IssueKind.IMAP_FAILED, AccountRef(i, f"m{i}@x.example", "", "GMAIL", None))
        for i in range(MAX_BLOCKS - 2)
    ]
    blocks = render_slack(events, NOW)["blocks"]
    assert len(blocks) == MAX_BLOCKS
    assert all(b["type"] == "section" for b in blocks[2:])


def test_slack_texts_stay_within_limits() -> None:
    """Huge provider texts are cut to Slack's limits without splitting an entity."""
    account = AccountRef(1, "<" * 2000 + "@x.example", "&" * 5000, "GMAIL" * 100, None)
    event = make_event(IssueKind.SMTP_FAILED, account, detail={"error": "<>&" * 10_000})
    long_workspace = make_event(IssueKind.API_AUTH_FAILED, None, workspace="w" * 400)
    payload = render_slack([event, long_workspace], NOW)
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert all(len(text) <= MAX_SECTION_TEXT for text in sections)
    assert all(not _BARE_AMP.search(text) for text in sections)
    assert len(payload["blocks"][0]["text"]["text"]) <= MAX_HEADER_TEXT
    assert "…" in sections[0]


def test_slack_multiline_error_stays_one_quoted_line() -> None:
    """Newlines in a provider error cannot break out of the quote into new lines."""
    event = make_event(IssueKind.SMTP_FAILED, JOHN, detail={"error": "a\n\n*b*\n>c"})
    line = render_slack([event], NOW)["blocks"][2]["text"]["text"]
    assert line.splitlines()[1] == ">a *b* &gt;c"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=400))
def test_escape_clipped_is_a_bounded_escaped_prefix(text: str, budget: int) -> None:
    """Escaped and clipped text fits its budget and unescapes to a prefix of the input."""
    out = escape_clipped(text, budget)
    assert len(out) <= budget
    if out == escape(text):
        return
    assert out.endswith("…")
    assert text.startswith(html.unescape(out[:-1]))
    assert not _BARE_AMP.search(out[:-1])


def test_webhook_golden_and_compact() -> None:
    """The webhook body is the reviewed §6 shape, compact, in the contract's key order."""
    body = render_webhook(mixed_events(), NOW)
    check_golden("webhook.json", json.loads(body))
    golden = json.loads((GOLDEN / "webhook.json").read_text(encoding="utf-8"))
    assert body == json.dumps(golden, separators=(",", ":"), ensure_ascii=False).encode()
    assert list(json.loads(body)) == ["type", "timestamp", "data"]


def test_webhook_body_matches_the_shipped_schema() -> None:
    """Real output validates against monitor/notify/webhook.schema.json."""
    schema = body_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    body = json.loads(render_webhook(mixed_events(), NOW))
    jsonschema.Draft202012Validator(schema).validate(body)
    assert body["type"] == "smartlead.health.events"
    assert body["timestamp"] == "2026-11-28T10:00:00Z"
    event = body["data"]["events"][0]
    assert event["account"] == {
        "id": 123,
        "email": "john@example.com",
        "from_name": "John Doe",
        "esp": "GMAIL",
        "client_id": None,
    }
    assert event["resolved_at"] is None and event["reminder"] is False


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("type",), "something.else"),
        (("data", "events", 0, "status"), "open"),
        (("data", "events", 0, "started_at"), "2026-11-28 09:55"),
        (("data", "events", 0, "account"), None),  # an account kind without its account
        (("data", "events", 6, "account"), {"id": 1}),  # a workspace kind with one
        (("data", "events", 4, "resolved_at"), None),  # resolved without a time
    ],
)
def test_schema_rejects_a_wrong_body(path: tuple[Any, ...], value: Any) -> None:
    """The schema has teeth: each single corruption of a real body is rejected."""
    body = json.loads(render_webhook(mixed_events(), NOW))
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(body_schema()).validate(body)


def test_alertmanager_golden() -> None:
    """The Alertmanager alerts for a mixed group of events are exactly the reviewed ones."""
    alerts = render_alertmanager(mixed_events(), NOW, ends_in=ENDS_IN, generator_url=GENERATOR)
    check_golden("alertmanager.json", alerts)


def test_alertmanager_labels_and_end_times() -> None:
    """Labels per §6; firing alerts end `ends_in` ahead, resolved ones at their resolve time."""
    events = mixed_events()
    alerts = render_alertmanager(events, NOW, ends_in=ENDS_IN, generator_url=GENERATOR)
    assert len(alerts) == len(events)
    by_name = {(a["labels"]["alertname"], a["labels"].get("account_id")): a for a in alerts}
    smtp = by_name[("SmartLeadSmtpFailed", "123")]
    assert smtp["labels"] == {
        "alertname": "SmartLeadSmtpFailed",
        "workspace": "default",
        "account_id": "123",
        "email": "john@example.com",
        "esp": "GMAIL",
        "client_id": "none",
        "severity": "critical",
    }
    assert smtp["startsAt"] == "2026-11-28T09:55:00Z"
    assert smtp["endsAt"] == "2026-11-28T10:15:00Z"
    assert smtp["generatorURL"] == GENERATOR
    assert by_name[("SmartLeadImapFailed", "456")]["labels"]["client_id"] == "7"
    assert by_name[("SmartLeadWarmupBlocked", "789")]["labels"]["severity"] == "warning"
    assert by_name[("SmartLeadReputationLow", "123")]["labels"]["severity"] == "warning"
    auth = by_name[("SmartLeadApiAuthFailed", None)]
    assert auth["labels"] == {
        "alertname": "SmartLeadApiAuthFailed",
        "workspace": "default",
        "severity": "critical",
    }
    resolved = [a for e, a in zip(events, alerts, strict=True) if e.status is Status.RESOLVED]
    assert [a["endsAt"] for a in resolved] == ["2026-11-28T10:00:00Z"] * 3
    assert all(set(a["annotations"]) == {"summary", "description"} for a in alerts)


def test_alertmanager_without_generator_url_leaves_it_out() -> None:
    """An empty generator URL is omitted rather than sent as an invalid URI."""
    alerts = render_alertmanager(mixed_events()[:1], NOW, ends_in=ENDS_IN, generator_url="")
    assert "generatorURL" not in alerts[0]
