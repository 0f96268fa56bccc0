"""Shared bits of the config tests: a minimal valid config, the shipped file, a loader call."""

from __future__ import annotations

from pathlib import Path

from monitor.config import ConfigError, Settings, parse_settings

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "monitor.yaml"
CANARY_KEY = "sk-canary-7f3a9c1e5b"
CANARY_HOOK = "https://hooks.slack.com/services/T0CANARY/B0CANARY/xoxCanaryToken42"
CANARY_SECRET = "whsec_Y2FuYXJ5LXNpZ25pbmctc2VjcmV0"
CANARY_TOKEN = "bearer-canary-0d1e2f"
CANARIES = (CANARY_KEY, CANARY_HOOK, CANARY_SECRET, CANARY_TOKEN, "T0CANARY", "xoxCanaryToken42")

MINIMAL = """\
workspaces:
  - name: main
    api_key: k-1234567
"""


def load(text: str, **env: str) -> Settings:
    return parse_settings(text, env, source="test.yaml")


def problems(text: str, **env: str) -> list[str]:
    """The problems a config gives; fails the test if it loads."""
    try:
        parse_settings(text, env, source="test.yaml")
    except ConfigError as error:
        return error.problems
    raise AssertionError("the config loaded, but it should not")


def shipped(**env: str) -> Settings:
    return parse_settings(SHIPPED.read_text(), env, source=str(SHIPPED))
