"""What the daemon reads from valid settings: thresholds, notifiers, listen address, matchers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.config import (
    ConsoleSettings,
    HttpSettings,
    IssueSettings,
    Matcher,
    Silence,
    WebhookSettings,
)
from monitor.core.model import IssueKind

from .helpers import MINIMAL, load

RICH = """\
workspaces:
  - name: agency
    api_key: k-agency-1
    rate_limit: 5
    burst: 10
  - name: client-b
    api_key: k-client-b
    base_url: http://127.0.0.1:8089/
issues:
  failure_threshold: 2
  success_threshold: 3
  kinds:
    reputation_low: {failure_threshold: 4}
    api_unavailable: {failure_threshold: 5, success_threshold: 2}
notifiers:
  - {type: console, name: log}
  - {type: slack, name: ops, url: 'https://hooks.slack.com/services/T/B/x'}
  - {type: slack, name: client-b-slack}
  - {type: webhook, name: hook, url: 'http://127.0.0.1:9000/in', secret: s3cr3t-value}
routes:
  - match: {workspace: client-b, kind: [smtp_failed, imap_failed]}
    notifiers: client-b-slack
    continue: true
  - match: {esp: GMAIL, client_id: [12, none]}
    notifiers: [ops, hook]
silences:
  - match: {email: '*@test.example.com'}
    until: '2026-12-01T00:00:00'
    reason: test mailboxes
  - match: {account_id: 42}
metrics: {per_account: false}
"""


def test_a_rich_config_loads() -> None:
    """Several workspaces, per-kind thresholds, routes and silences all load as written."""
    settings = load(RICH)
    assert [ws.name for ws in settings.workspaces] == ["agency", "client-b"]
    assert settings.workspaces[1].base_url == "http://127.0.0.1:8089"
    assert settings.workspaces[0].burst == 10
    assert settings.routes[0].continue_ is True
    assert settings.routes[0].notifiers == ["client-b-slack"]
    assert settings.routes[1].match.client_id == [12, None]
    assert settings.silences[1].match.account_id == [42]
    assert settings.metrics.per_account is False


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (IssueKind.SMTP_FAILED, (2, 3)),
        (IssueKind.IMAP_FAILED, (2, 3)),
        (IssueKind.WARMUP_BLOCKED, (2, 3)),
        (IssueKind.REPUTATION_LOW, (4, 3)),
        (IssueKind.API_AUTH_FAILED, (1, 1)),
        (IssueKind.API_UNAVAILABLE, (5, 2)),
    ],
)
def test_thresholds_per_kind(kind: IssueKind, expected: tuple[int, int]) -> None:
    """A kind's own override wins; account kinds fall back to the global thresholds."""
    assert load(RICH).issues.thresholds(kind) == expected


def test_workspace_kinds_have_their_own_defaults() -> None:
    """Without overrides one 401 fires api_auth_failed and three failed polls api_unavailable,
    whatever the account thresholds are."""
    issues = IssueSettings(failure_threshold=4, success_threshold=2)
    assert issues.thresholds(IssueKind.API_AUTH_FAILED) == (1, 1)
    assert issues.thresholds(IssueKind.API_UNAVAILABLE) == (3, 1)
    assert issues.thresholds(IssueKind.SMTP_FAILED) == (4, 2)


def test_enabled_notifiers_are_those_with_a_url_and_console_ones() -> None:
    """A notifier without a URL is configured but off; console needs none."""
    enabled = load(RICH).enabled_notifiers
    assert [n.name for n in enabled] == ["log", "ops", "hook"]
    assert isinstance(enabled[0], ConsoleSettings)
    assert isinstance(enabled[2], WebhookSettings)


def test_a_route_may_name_a_notifier_that_is_off() -> None:
    """Routing to a declared notifier without a URL is valid (it is skipped at send time)."""
    assert load(RICH).routes[0].notifiers == ["client-b-slack"]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("0.0.0.0:9877", "0.0.0.0", 9877),
        ("localhost:80", "localhost", 80),
        ("[::]:9877", "::", 9877),
        ("[::1]:0", "::1", 0),
        ("monitor.internal:65535", "monitor.internal", 65535),
    ],
)
def test_listen_address_parts(listen: str, host: str, port: int) -> None:
    """`host:port` splits into what the HTTP server binds; IPv6 goes in brackets."""
    http = HttpSettings(listen=listen)
    assert (http.host, http.port) == (host, port)


def test_matchers_take_one_value_or_a_list() -> None:
    """`esp: GMAIL` means `esp: [GMAIL]`; `none` in client_id matches accounts without one."""
    matcher = Matcher.model_validate({"esp": "GMAIL", "account_id": 7, "client_id": "none"})
    assert matcher.esp == ["GMAIL"]
    assert matcher.account_id == [7]
    assert matcher.client_id == [None]


@pytest.mark.parametrize(
    "until",
    ["2026-12-01T00:00:00", "2026-12-01T00:00:00Z", "2026-12-01T01:00:00+01:00"],
)
def test_silence_until_is_always_utc_aware(until: str) -> None:
    """`until` with or without a zone is an aware time, so it compares with the clock."""
    silence = Silence.model_validate({"match": {"esp": "x"}, "until": until})
    assert silence.until == datetime(2026, 12, 1, tzinfo=UTC)


def test_yaml_dates_and_times_are_read_as_utc() -> None:
    """An unquoted YAML date or naive timestamp in `until` is read as UTC."""
    settings = load(
        MINIMAL + "silences:\n  - {match: {esp: x}, until: 2026-12-01}\n"
        "  - {match: {esp: y}, until: 2026-12-01 06:30:00}\n"
    )
    assert settings.silences[0].until == datetime(2026, 12, 1, tzinfo=UTC)
    assert settings.silences[1].until == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


def test_empty_sections_mean_their_defaults() -> None:
    """`notifiers:` or `polling:` left empty (every line commented out) means the default."""
    settings = load(MINIMAL + "notifiers:\nroutes:\npolling:\nhttp:\n  auth:\n")
    assert settings.notifiers == []
    assert settings.routes == []
    assert settings.polling.failure_interval == 300.0
    assert settings.http.auth.enabled is False


def test_http_auth_from_yaml() -> None:
    """A bearer token and basic-auth credentials can both be set; `enabled` says so."""
    settings = load(
        MINIMAL + "http:\n  auth: {bearer_token: tok-123456, username: ops, password: pw-123456}\n"
    )
    auth = settings.http.auth
    assert auth.enabled
    assert auth.username == "ops"
    assert auth.password is not None and auth.password.get_secret_value() == "pw-123456"


def test_secret_values_lists_every_secret() -> None:
    """Keys, secret webhook URLs, signing secrets, HTTP credentials: all for the scrubber."""
    settings = load(
        RICH + "http:\n  auth: {bearer_token: tok-123456, username: ops, password: pw-123456}\n"
    )
    assert set(settings.secret_values()) == {
        "k-agency-1",
        "k-client-b",
        "https://hooks.slack.com/services/T/B/x",
        "http://127.0.0.1:9000/in",
        "s3cr3t-value",
        "tok-123456",
        "pw-123456",
    }


def test_alertmanager_credentials_in_the_url_count_as_a_secret() -> None:
    """An Alertmanager URL with a password in it is scrubbed from logs like a secret."""
    url = "https://ops:am-pass-99@am.example.com"
    settings = load(MINIMAL + f"notifiers: [{{type: alertmanager, name: am, url: '{url}'}}]\n")
    assert settings.secret_values() == ["k-1234567", url]
