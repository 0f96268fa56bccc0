"""No secret in any config error or in `check-config`'s summary (contract §3, §10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigError, describe, parse_settings

from .helpers import (
    CANARIES,
    CANARY_HOOK,
    CANARY_KEY,
    CANARY_SECRET,
    CANARY_TOKEN,
    SHIPPED,
    problems,
    shipped,
)

SECRET_ENV = {
    "SMARTLEAD_API_KEY": CANARY_KEY,
    "SLACK_WEBHOOK_URL": CANARY_HOOK,
    "WEBHOOK_URL": CANARY_HOOK.replace("hooks.slack.com", "hooks.example.com"),
    "WEBHOOK_SECRET": CANARY_SECRET,
    "MONITOR_HTTP_TOKEN": CANARY_TOKEN,
}


def assert_clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def test_describe_shows_no_secret() -> None:
    """The summary masks keys, shows webhook URLs as scheme://host and secrets as `set`."""
    text = describe(shipped(**SECRET_ENV))
    assert_clean(text)
    assert "default: https://server.smartlead.ai, api key ***" in text
    assert "slack (slack): https://hooks.slack.com" in text
    assert "webhook (webhook): https://hooks.example.com, signing secret set" in text
    assert "alertmanager (alertmanager): off (no URL)" in text
    assert "auth bearer token set" in text


def test_describe_summarises_everything_an_operator_checks() -> None:
    """Intervals, per-kind thresholds, routes, silences, listen address and state path."""
    text = describe(
        parse_settings(
            SHIPPED.read_text()
            + "routes: [{match: {esp: GMAIL}, notifiers: [slack], continue: true}]\n"
            + "silences: [{match: {kind: reputation_low}, until: 2026-12-01, reason: warmup}]\n",
            {**SECRET_ENV, "MONITOR_POLL_INTERVAL": "2.5", "MONITOR_REPEAT_INTERVAL": "0"},
        )
    )
    for line in (
        "polling: failure poll every 2.5s, inventory every 1h, page cap 2000",
        "issues: reminders off, reputation low under 80%",
        "  api_unavailable: fires after 3 failing, resolves after 1 healthy",
        "  esp=GMAIL -> slack, continue",
        "  kind=reputation_low until 2026-12-01T00:00:00+00:00 (warmup)",
        "http: listen 0.0.0.0:9877, auth bearer token set",
        "state: ./data/monitor.db",
    ):
        assert line in text.splitlines()


def test_secrets_in_broken_values_are_not_repeated() -> None:
    """A secret in a value that fails validation never appears in the problem text."""
    text = f"""\
workspaces:
  - {{name: w, api_key: [{CANARY_KEY}], base_url: 'https://x.io/{CANARY_TOKEN} x'}}
  - {{name: '{CANARY_TOKEN}/x', api_key: k-1234567, rate_limit: '{CANARY_KEY}'}}
notifiers:
  - {{type: slack, name: s, url: 'hooks.slack.com/services/T0CANARY/B0CANARY/xoxCanaryToken42'}}
  - {{type: webhook, name: w, url: '{CANARY_HOOK}', secret: [{CANARY_SECRET}]}}
  - {{type: '{CANARY_SECRET}', name: x}}
http: {{listen: '{CANARY_TOKEN}', auth: {{bearer_token: {{t: {CANARY_TOKEN}}}}}}}
logging: {{level: '{CANARY_KEY}'}}
"""
    found = problems(text)
    assert len(found) == 10
    assert_clean("\n".join(found))


def test_secrets_from_the_environment_are_not_repeated() -> None:
    """A secret env value that ends up in a bad place (a name, a number) is masked."""
    text = """\
workspaces:
  - {name: '${SMARTLEAD_API_KEY}', api_key: '${SMARTLEAD_API_KEY}'}
  - {name: '${SMARTLEAD_API_KEY}', api_key: k-1234567}
polling: {failure_interval: '${MONITOR_HTTP_TOKEN}'}
notifiers: [{type: console, name: log}]
routes: [{notifiers: ['${WEBHOOK_SECRET}']}]
"""
    found = problems(text, **SECRET_ENV)
    assert [p.split(":")[0] for p in found] == [
        "workspaces[1].name",
        "polling.failure_interval",
        "routes[0].notifiers[0]",
    ]
    assert_clean("\n".join(found))


def test_a_yaml_syntax_error_does_not_quote_the_line() -> None:
    """PyYAML quotes the offending line by default; the loader keeps only line and column."""
    text = f"workspaces:\n  - name: w\n   api_key: {CANARY_KEY}\n"
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, {}, source="test.yaml")
    assert "line 3, column 4" in str(caught.value)
    assert_clean(str(caught.value))


def test_check_config_prints_the_summary_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check-config` resolves `${VAR}` like `run`, exits 0 and prints no secret."""
    for name, value in SECRET_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", "--config", str(SHIPPED)]) == 0
    out, err = capsys.readouterr()
    assert "api key ***" in out
    assert_clean(out + err)


def test_check_config_reports_an_unset_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check-config` without SMARTLEAD_API_KEY: exit 2, naming the variable."""
    monkeypatch.delenv("SMARTLEAD_API_KEY", raising=False)
    monkeypatch.delenv("SMARTLEAD_MONITOR_CONFIG", raising=False)
    assert main(["check-config", "--config", str(SHIPPED)]) == 2
    assert "environment variable SMARTLEAD_API_KEY is not set" in capsys.readouterr().err
