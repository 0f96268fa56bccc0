"""The shipped config/monitor.yaml runs on environment variables only (contract §3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import (
    AlertmanagerSettings,
    ConfigError,
    Settings,
    SlackSettings,
    WebhookSettings,
    load_settings,
)

from .helpers import CANARY_HOOK, CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, SHIPPED, shipped


def notifier(settings: Settings, name: str) -> Any:
    return next(n for n in settings.notifiers if n.name == name)


def secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


def test_defaults_with_only_the_api_key() -> None:
    """With only SMARTLEAD_API_KEY set, every setting has the default of the §3 table."""
    settings = shipped(SMARTLEAD_API_KEY=CANARY_KEY)
    (workspace,) = settings.workspaces
    assert workspace.name == "default"
    assert workspace.base_url == "https://server.smartlead.ai"
    assert workspace.rate_limit == 1.0
    assert settings.http.listen == "0.0.0.0:9877"
    assert settings.state.path == "./data/monitor.db"
    assert settings.polling.failure_interval == 300.0
    assert settings.polling.inventory_interval == 3600.0
    assert settings.issues.failure_threshold == 1
    assert settings.issues.success_threshold == 1
    assert settings.issues.repeat_interval == 14400.0
    assert settings.issues.reputation_low == 80.0
    assert settings.logging.level == "info"
    assert settings.logging.format is None
    assert settings.http.auth.bearer_token is None
    assert [n.name for n in settings.notifiers] == ["slack", "webhook", "alertmanager"]
    assert settings.enabled_notifiers == []


ROWS: list[tuple[str, str, Callable[[Settings], object], object]] = [
    ("SMARTLEAD_API_KEY", "k-other-123", lambda s: secret(s.workspaces[0].api_key), "k-other-123"),
    (
        "SMARTLEAD_BASE_URL",
        "http://127.0.0.1:8089",
        lambda s: s.workspaces[0].base_url,
        "http://127.0.0.1:8089",
    ),
    ("SLACK_WEBHOOK_URL", CANARY_HOOK, lambda s: secret(notifier(s, "slack").url), CANARY_HOOK),
    (
        "WEBHOOK_URL",
        "https://example.com/hook",
        lambda s: secret(notifier(s, "webhook").url),
        "https://example.com/hook",
    ),
    (
        "WEBHOOK_SECRET",
        CANARY_SECRET,
        lambda s: secret(notifier(s, "webhook").secret),
        CANARY_SECRET,
    ),
    (
        "ALERTMANAGER_URL",
        "http://127.0.0.1:9093",
        lambda s: notifier(s, "alertmanager").url,
        "http://127.0.0.1:9093",
    ),
    (
        "MONITOR_LISTEN",
        "127.0.0.1:19877",
        lambda s: (s.http.host, s.http.port),
        ("127.0.0.1", 19877),
    ),
    (
        "MONITOR_STATE_PATH",
        "/var/lib/smartlead-monitor/state.db",
        lambda s: s.state.path,
        "/var/lib/smartlead-monitor/state.db",
    ),
    ("MONITOR_POLL_INTERVAL", "2.5", lambda s: s.polling.failure_interval, 2.5),
    ("MONITOR_INVENTORY_INTERVAL", "60", lambda s: s.polling.inventory_interval, 60.0),
    ("MONITOR_FAILURE_THRESHOLD", "3", lambda s: s.issues.failure_threshold, 3),
    ("MONITOR_SUCCESS_THRESHOLD", "2", lambda s: s.issues.success_threshold, 2),
    ("MONITOR_REPEAT_INTERVAL", "0", lambda s: s.issues.repeat_interval, 0.0),
    ("MONITOR_REPUTATION_LOW", "72.5", lambda s: s.issues.reputation_low, 72.5),
    ("MONITOR_RATE_LIMIT", "20", lambda s: s.workspaces[0].rate_limit, 20.0),
    ("LOG_LEVEL", "DEBUG", lambda s: s.logging.level, "debug"),
    ("LOG_LEVEL", "warn", lambda s: s.logging.level, "warning"),
    ("LOG_FORMAT", "console", lambda s: s.logging.format, "console"),
    ("LOG_FORMAT", "json", lambda s: s.logging.format, "json"),
    ("MONITOR_HTTP_TOKEN", CANARY_TOKEN, lambda s: secret(s.http.auth.bearer_token), CANARY_TOKEN),
]


@pytest.mark.parametrize(("var", "value", "read", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_each_variable_reaches_its_setting(
    var: str, value: str, read: Callable[[Settings], object], expected: object
) -> None:
    """Every variable of the §3 table (and MONITOR_HTTP_TOKEN) sets exactly its setting."""
    settings = shipped(**{"SMARTLEAD_API_KEY": CANARY_KEY, var: value})
    assert read(settings) == expected


@pytest.mark.parametrize(
    ("var", "cls"),
    [
        ("SLACK_WEBHOOK_URL", SlackSettings),
        ("WEBHOOK_URL", WebhookSettings),
        ("ALERTMANAGER_URL", AlertmanagerSettings),
    ],
)
def test_a_notifier_is_on_when_its_url_is_set(var: str, cls: type) -> None:
    """Setting one notifier URL turns on that notifier and no other."""
    settings = shipped(SMARTLEAD_API_KEY=CANARY_KEY, **{var: "https://example.com/x"})
    assert [type(n) for n in settings.enabled_notifiers] == [cls]


def test_basic_auth_from_the_environment() -> None:
    """MONITOR_HTTP_USERNAME and MONITOR_HTTP_PASSWORD turn on basic auth together."""
    settings = shipped(
        SMARTLEAD_API_KEY=CANARY_KEY, MONITOR_HTTP_USERNAME="ops", MONITOR_HTTP_PASSWORD="pw-1234"
    )
    assert settings.http.auth.username == "ops"
    assert secret(settings.http.auth.password) == "pw-1234"
    with pytest.raises(ConfigError) as caught:
        shipped(SMARTLEAD_API_KEY=CANARY_KEY, MONITOR_HTTP_USERNAME="ops")
    assert caught.value.problems == ["http.auth: basic auth needs both username and password"]


def test_empty_optional_variables_mean_off() -> None:
    """Empty URLs, secret, token and LOG_FORMAT are None (off / unsigned / open / auto)."""
    empty = dict.fromkeys(
        [
            "SLACK_WEBHOOK_URL",
            "WEBHOOK_URL",
            "WEBHOOK_SECRET",
            "ALERTMANAGER_URL",
            "MONITOR_HTTP_TOKEN",
            "LOG_FORMAT",
        ],
        "",
    )
    settings = shipped(SMARTLEAD_API_KEY=CANARY_KEY, **empty)
    assert settings.enabled_notifiers == []
    assert notifier(settings, "webhook").secret is None
    assert settings.http.auth.bearer_token is None
    assert settings.logging.format is None


def test_empty_numbers_fall_back_to_their_defaults() -> None:
    """`MONITOR_POLL_INTERVAL=` (set but empty) means the default, as `:-` does in a shell."""
    settings = shipped(SMARTLEAD_API_KEY=CANARY_KEY, MONITOR_POLL_INTERVAL="", LOG_LEVEL="")
    assert settings.polling.failure_interval == 300.0
    assert settings.logging.level == "info"


def test_the_api_key_is_required() -> None:
    """Without SMARTLEAD_API_KEY the shipped config is invalid, naming the variable."""
    with pytest.raises(ConfigError) as caught:
        shipped()
    assert caught.value.problems == [
        "workspaces[0].api_key: environment variable SMARTLEAD_API_KEY is not set"
    ]


def test_an_empty_api_key_is_refused() -> None:
    """SMARTLEAD_API_KEY set to "" is not a key: the problem names the variable."""
    with pytest.raises(ConfigError) as caught:
        shipped(SMARTLEAD_API_KEY="")
    assert caught.value.problems == [
        "workspaces[0].api_key: must not be empty (from SMARTLEAD_API_KEY)"
    ]


def test_bad_values_from_the_environment_name_key_and_variable() -> None:
    """Bad values in several variables are all reported, each with its key and variable."""
    with pytest.raises(ConfigError) as caught:
        shipped(
            SMARTLEAD_API_KEY=CANARY_KEY,
            MONITOR_POLL_INTERVAL="0",
            MONITOR_LISTEN="9877",
            SLACK_WEBHOOK_URL="hooks.slack.com/services/x",
            LOG_LEVEL="verbose",
        )
    found = caught.value.problems
    assert [p.split(":")[0] for p in found] == [
        "polling.failure_interval",
        "notifiers[0].url",
        "http.listen",
        "logging.level",
    ]
    assert found[0].endswith("(from MONITOR_POLL_INTERVAL)")
    assert found[2].endswith("(from MONITOR_LISTEN)")


def test_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit path first, then SMARTLEAD_MONITOR_CONFIG, then config/monitor.yaml in cwd."""
    env = {"SMARTLEAD_API_KEY": CANARY_KEY}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "monitor.yaml").write_text(SHIPPED.read_text())
    (tmp_path / "other.yaml").write_text(
        SHIPPED.read_text().replace("name: default", "name: other")
    )
    (tmp_path / "third.yaml").write_text(
        SHIPPED.read_text().replace("name: default", "name: third")
    )
    monkeypatch.chdir(tmp_path)
    assert load_settings(env=env).workspaces[0].name == "default"
    from_env = {**env, "SMARTLEAD_MONITOR_CONFIG": "other.yaml"}
    assert load_settings(env=from_env).workspaces[0].name == "other"
    assert load_settings("third.yaml", env=from_env).workspaces[0].name == "third"
    assert load_settings(tmp_path / "third.yaml", env=env).workspaces[0].name == "third"


def test_a_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    """No file at the path: a ConfigError saying so and how to point elsewhere."""
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "nope.yaml", env={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'nope.yaml'}: file not found")
    assert "SMARTLEAD_MONITOR_CONFIG" in problem


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "cannot read"),
        (lambda p: p.write_bytes(b"workspaces: \xff\xfe\n"), "not UTF-8 text"),
    ],
)
def test_an_unreadable_file_is_one_clear_problem(
    tmp_path: Path, make: Callable[[Path], object], expected: str
) -> None:
    """A directory or a non-UTF-8 file at the path is a ConfigError, not a traceback."""
    target = tmp_path / "monitor.yaml"
    make(target)
    with pytest.raises(ConfigError) as caught:
        load_settings(target, env={})
    assert expected in str(caught.value)
