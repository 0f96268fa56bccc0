"""Broken configs: each gives ConfigError, with a message that names the key (issue 6)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main

from .helpers import SHIPPED, problems

WS = "workspaces: [{name: w, api_key: k-1234567}]\n"
NOTIFY = WS + "notifiers: [{type: console, name: log}]\n"

# (id, yaml, env, the problem's key path, a fragment of what is wrong)
TABLE: list[tuple[str, str, dict[str, str], str, str]] = [
    # YAML syntax: the file, line and column
    ("bad-indent", "workspaces:\n  - name: w\n   api_key: k\n", {}, "test.yaml", "line 3, column"),
    ("tab", "workspaces:\n\t- name: w\n", {}, "test.yaml", "line 2, column 1"),
    ("unclosed-flow", "workspaces: [{name: w\n", {}, "test.yaml", "line 2"),
    (
        "duplicate-key",
        WS + "state: {path: a}\nstate: {path: b}\n",
        {},
        "test.yaml",
        "line 3, column 1: key 'state' is given twice",
    ),
    ("two-documents", WS + "---\n" + WS, {}, "test.yaml", "expected a single document"),
    (
        "python-tag",
        WS + "state: !!python/object:os.system {}\n",
        {},
        "test.yaml",
        "could not determine a constructor",
    ),
    (
        "bad-date",
        WS + "silences: [{match: {esp: x}, until: 2026-13-01}]\n",
        {},
        "test.yaml",
        "month must be in 1..12",
    ),
    ("top-list", "- workspaces\n", {}, "test.yaml", "the top level must be a mapping"),
    ("top-scalar", "hello\n", {}, "test.yaml", "the top level must be a mapping"),
    # unknown keys, with a hint from the keys accepted right there
    ("unknown-top", WS + "polling_interval: 5\n", {}, "polling_interval", "unknown key"),
    (
        "unknown-nested",
        WS + "polling: {failure_intervall: 5}\n",
        {},
        "polling.failure_intervall",
        "did you mean 'failure_interval'?",
    ),
    (
        "unknown-in-workspace",
        "workspaces: [{name: w, api_key: k-1234567, apikey: x}]\n",
        {},
        "workspaces[0].apikey",
        "unknown key",
    ),
    (
        "unknown-notifier-key",
        WS + "notifiers: [{type: slack, name: s, webhook_url: x}]\n",
        {},
        "notifiers[0].webhook_url",
        "unknown key",
    ),
    (
        "unknown-matcher-key",
        NOTIFY + "routes: [{match: {mailbox: x}, notifiers: [log]}]\n",
        {},
        "routes[0].match.mailbox",
        "unknown key",
    ),
    # wrong types
    (
        "interval-text",
        WS + "polling: {failure_interval: soon}\n",
        {},
        "polling.failure_interval",
        "valid number",
    ),
    ("workspaces-scalar", "workspaces: main\n", {}, "workspaces", "valid list"),
    (
        "threshold-float",
        WS + "issues: {failure_threshold: 1.5}\n",
        {},
        "issues.failure_threshold",
        "valid integer",
    ),
    (
        "bool-text",
        WS + "metrics: {per_account: maybe}\n",
        {},
        "metrics.per_account",
        "valid boolean",
    ),
    (
        "until-text",
        WS + "silences: [{match: {esp: x}, until: tomorrow}]\n",
        {},
        "silences[0].until",
        "valid datetime",
    ),
    (
        "account-id-text",
        WS + "silences: [{match: {account_id: abc}}]\n",
        {},
        "silences[0].match.account_id[0]",
        "valid integer",
    ),
    ("section-scalar", WS + "http: 9877\n", {}, "http", "valid dictionary"),
    (
        "api-key-list",
        "workspaces: [{name: w, api_key: [k]}]\n",
        {},
        "workspaces[0].api_key",
        "valid string",
    ),
    # missing required values
    ("no-workspaces", "state: {path: x}\n", {}, "workspaces", "required key is missing"),
    ("empty-file", "", {}, "workspaces", "required key is missing"),
    ("empty-workspaces", "workspaces: []\n", {}, "workspaces", "at least 1 item"),
    (
        "no-name",
        "workspaces: [{api_key: k-1234567}]\n",
        {},
        "workspaces[0].name",
        "required key is missing",
    ),
    (
        "no-api-key",
        "workspaces: [{name: w}]\n",
        {},
        "workspaces[0].api_key",
        "required key is missing",
    ),
    (
        "null-api-key",
        "workspaces: [{name: w, api_key: }]\n",
        {},
        "workspaces[0].api_key",
        "required key is missing",
    ),
    (
        "route-no-notifiers",
        NOTIFY + "routes: [{match: {esp: GMAIL}}]\n",
        {},
        "routes[0].notifiers",
        "required key is missing",
    ),
    (
        "silence-no-match",
        WS + "silences: [{reason: x}]\n",
        {},
        "silences[0].match",
        "required key is missing",
    ),
    ("notifier-no-type", WS + "notifiers: [{name: s}]\n", {}, "notifiers[0]", "missing `type`"),
    (
        "notifier-no-name",
        WS + "notifiers: [{type: slack}]\n",
        {},
        "notifiers[0].name",
        "required key is missing",
    ),
    (
        "missing-env",
        "workspaces: [{name: w, api_key: '${THE_KEY}'}]\n",
        {},
        "workspaces[0].api_key",
        "environment variable THE_KEY is not set",
    ),
    # bad URLs
    (
        "base-url-ftp",
        "workspaces: [{name: w, api_key: k-1234567, base_url: 'ftp://x.io'}]\n",
        {},
        "workspaces[0].base_url",
        "http:// or https://",
    ),
    (
        "base-url-no-scheme",
        "workspaces: [{name: w, api_key: k-1234567, base_url: x.io}]\n",
        {},
        "workspaces[0].base_url",
        "http:// or https://",
    ),
    (
        "base-url-no-host",
        "workspaces: [{name: w, api_key: k-1234567, base_url: 'https://'}]\n",
        {},
        "workspaces[0].base_url",
        "no host",
    ),
    (
        "base-url-port",
        "workspaces: [{name: w, api_key: k-1234567, base_url: 'http://h:99999'}]\n",
        {},
        "workspaces[0].base_url",
        "not a valid URL",
    ),
    (
        "base-url-api-v1",
        "workspaces: [{name: w, api_key: k-1234567, base_url: 'https://x.io/api/v1/'}]\n",
        {},
        "workspaces[0].base_url",
        "host root only",
    ),
    (
        "slack-url",
        WS + "notifiers: [{type: slack, name: s, url: hooks.slack.com/x}]\n",
        {},
        "notifiers[0].url",
        "http:// or https://",
    ),
    (
        "webhook-url-space",
        WS + "notifiers: [{type: webhook, name: h, url: 'http://a b'}]\n",
        {},
        "notifiers[0].url",
        "whitespace",
    ),
    (
        "alertmanager-url",
        WS + "notifiers: [{type: alertmanager, name: am, url: 'am:9093'}]\n",
        {},
        "notifiers[0].url",
        "http:// or https://",
    ),
    (
        "external-url",
        WS + "http: {external_url: monitor.local}\n",
        {},
        "http.external_url",
        "http:// or https://",
    ),
    # intervals and ranges
    (
        "interval-negative",
        WS + "polling: {failure_interval: -5}\n",
        {},
        "polling.failure_interval",
        "greater than 0",
    ),
    (
        "interval-zero",
        WS + "polling: {inventory_interval: 0}\n",
        {},
        "polling.inventory_interval",
        "greater than 0",
    ),
    (
        "interval-env-zero",
        WS + "polling: {failure_interval: '${POLL}'}\n",
        {"POLL": "0"},
        "polling.failure_interval",
        "greater than 0 (from POLL)",
    ),
    (
        "interval-nan",
        WS + "polling: {failure_interval: .nan}\n",
        {},
        "polling.failure_interval",
        "finite number",
    ),
    (
        "interval-inf",
        WS + "polling: {failure_interval: .inf}\n",
        {},
        "polling.failure_interval",
        "finite number",
    ),
    (
        "interval-huge",
        WS + "polling: {failure_interval: 1e12}\n",
        {},
        "polling.failure_interval",
        "less than or equal to",
    ),
    (
        "repeat-negative",
        WS + "issues: {repeat_interval: -1}\n",
        {},
        "issues.repeat_interval",
        "greater than or equal to 0",
    ),
    (
        "timeout-zero",
        WS + "polling: {retry: {timeout: 0}}\n",
        {},
        "polling.retry.timeout",
        "greater than 0",
    ),
    (
        "rate-limit-zero",
        "workspaces: [{name: w, api_key: k-1234567, rate_limit: 0}]\n",
        {},
        "workspaces[0].rate_limit",
        "greater than 0",
    ),
    (
        "threshold-zero",
        WS + "issues: {success_threshold: 0}\n",
        {},
        "issues.success_threshold",
        "greater than or equal to 1",
    ),
    (
        "reputation-over",
        WS + "issues: {reputation_low: 120}\n",
        {},
        "issues.reputation_low",
        "less than or equal to 100",
    ),
    # listen address
    ("listen-port-only", WS + "http: {listen: '9877'}\n", {}, "http.listen", "host:port"),
    ("listen-no-port", WS + "http: {listen: 'localhost:'}\n", {}, "http.listen", "host:port"),
    ("listen-no-host", WS + "http: {listen: ':9877'}\n", {}, "http.listen", "host:port"),
    ("listen-big-port", WS + "http: {listen: 'localhost:70000'}\n", {}, "http.listen", "host:port"),
    ("listen-url", WS + "http: {listen: 'http://0.0.0.0:9877'}\n", {}, "http.listen", "host:port"),
    # names
    (
        "duplicate-workspace",
        "workspaces: [{name: w, api_key: k-1234567}, {name: w, api_key: k-7654321}]\n",
        {},
        "workspaces[1].name",
        "duplicate workspace name 'w' (also workspaces[0])",
    ),
    (
        "duplicate-notifier",
        WS + "notifiers: [{type: console, name: n}, {type: console, name: n}]\n",
        {},
        "notifiers[1].name",
        "duplicate notifier name 'n'",
    ),
    (
        "workspace-name-chars",
        "workspaces: [{name: 'a/b', api_key: k-1234567}]\n",
        {},
        "workspaces[0].name",
        "only letters, digits",
    ),
    (
        "notifier-name-empty",
        WS + "notifiers: [{type: console, name: ''}]\n",
        {},
        "notifiers[0].name",
        "must not be empty",
    ),
    (
        "notifier-type",
        WS + "notifiers: [{type: pagerduty, name: p}]\n",
        {},
        "notifiers[0]",
        "unknown notifier type",
    ),
    # routes and silences
    (
        "route-unknown-notifier",
        NOTIFY + "routes: [{match: {esp: GMAIL}, notifiers: [log, ops]}]\n",
        {},
        "routes[0].notifiers[1]",
        "unknown notifier 'ops' (configured: log)",
    ),
    (
        "route-no-notifier-at-all",
        WS + "routes: [{notifiers: ops}]\n",
        {},
        "routes[0].notifiers[0]",
        "unknown notifier 'ops' (configured: none)",
    ),
    (
        "route-empty-notifiers",
        NOTIFY + "routes: [{notifiers: []}]\n",
        {},
        "routes[0].notifiers",
        "at least 1 item",
    ),
    (
        "silence-empty-match",
        WS + "silences: [{match: {}}]\n",
        {},
        "silences[0].match",
        "would mute everything",
    ),
    (
        "silence-empty-list",
        WS + "silences: [{match: {esp: []}}]\n",
        {},
        "silences[0].match.esp",
        "empty list matches nothing",
    ),
    (
        "glob-unclosed",
        WS + "silences: [{match: {email: '*@[abc'}}]\n",
        {},
        "silences[0].match.email",
        "unclosed '['",
    ),
    (
        "glob-empty",
        WS + "silences: [{match: {email: ''}}]\n",
        {},
        "silences[0].match.email",
        "empty email glob",
    ),
    (
        "glob-space",
        WS + "silences: [{match: {email: 'a b@x.io'}}]\n",
        {},
        "silences[0].match.email",
        "whitespace",
    ),
    (
        "glob-no-at",
        WS + "silences: [{match: {email: acme.com}}]\n",
        {},
        "silences[0].match.email",
        "can never match",
    ),
    (
        "route-glob",
        NOTIFY + "routes: [{match: {email: '[x'}, notifiers: [log]}]\n",
        {},
        "routes[0].match.email",
        "unclosed '['",
    ),
    # unknown issue kinds
    (
        "kinds-key",
        WS + "issues: {kinds: {smtp_failing: {failure_threshold: 2}}}\n",
        {},
        "issues.kinds.smtp_failing",
        "unknown issue kind",
    ),
    (
        "route-kind",
        NOTIFY + "routes: [{match: {kind: smtp}, notifiers: [log]}]\n",
        {},
        "routes[0].match.kind[0]",
        "'smtp_failed'",
    ),
    (
        "silence-kind",
        WS + "silences: [{match: {kind: [warmup]}}]\n",
        {},
        "silences[0].match.kind[0]",
        "'warmup_blocked'",
    ),
    # HTTP auth and logging
    (
        "basic-half",
        WS + "http: {auth: {username: ops}}\n",
        {},
        "http.auth",
        "needs both username and password",
    ),
    (
        "basic-colon",
        WS + "http: {auth: {username: 'a:b', password: pw}}\n",
        {},
        "http.auth",
        "cannot contain ':'",
    ),
    ("log-level", WS + "logging: {level: loud}\n", {}, "logging.level", "'debug', 'info'"),
    ("log-format", WS + "logging: {format: xml}\n", {}, "logging.format", "'json' or 'console'"),
    ("state-empty", WS + "state: {path: ''}\n", {}, "state.path", "must not be empty"),
    ("alias-loop", WS + "extra: &loop [*loop]\n", {}, "extra", ""),
]


@pytest.mark.parametrize(
    ("text", "env", "path", "fragment"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_broken_config(text: str, env: dict[str, str], path: str, fragment: str) -> None:
    """The broken config is refused with a problem at its key path saying what is wrong."""
    found = problems(text, **env)
    assert any(p.startswith(f"{path}: ") and fragment in p for p in found), found


def test_many_problems_are_reported_at_once_in_file_order() -> None:
    """Problems of every sort in one file all come back together, top to bottom."""
    text = """\
workspaces:
  - {name: a, api_key: '${KEY_A}'}
  - {name: a, api_key: k-1234567, base_url: 'ftp://x'}
polling: {failure_interval: -1, inventory_interval: 0, extra: 1}
notifiers: [{type: console, name: log}]
routes: [{notifiers: [ops]}]
silences: [{match: {email: '[x'}}]
http: {listen: nowhere}
"""
    assert problems(text) == [
        "workspaces[0].api_key: environment variable KEY_A is not set",
        "workspaces[1].name: duplicate workspace name 'a' (also workspaces[0])",
        "workspaces[1].base_url: must be an http:// or https:// URL",
        "polling.failure_interval: Input should be greater than 0",
        "polling.inventory_interval: Input should be greater than 0",
        "polling.extra: unknown key",
        "routes[0].notifiers[0]: unknown notifier 'ops' (configured: log)",
        "silences[0].match.email: email glob has an unclosed '['",
        "http.listen: must be host:port, e.g. 0.0.0.0:9877 or [::]:9877",
    ]


def test_a_runaway_alias_is_stopped() -> None:
    """A "billion laughs" document is refused quickly instead of expanded."""
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    found = problems(WS + "\n".join(layers) + "\n")
    assert found == ["more than 100000 values (runaway YAML aliases?)"]


def test_check_config_exits_2_on_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check-config` on a broken file: exit 2, every problem on stderr, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(WS + "polling: {failure_interval: 0}\nhttp: {listen: x}\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "polling.failure_interval: Input should be greater than 0" in err
    assert "http.listen: must be host:port" in err
    assert "Traceback" not in err


def test_the_real_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """`python -m monitor check-config` as a process: exit 2, the problem on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTLEAD_", "MONITOR_"))}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "--config", str(SHIPPED)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "workspaces[0].api_key: environment variable SMARTLEAD_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr
