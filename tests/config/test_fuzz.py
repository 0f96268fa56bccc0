"""Fuzzing the loader: whatever the text and the environment, Settings or ConfigError."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import ConfigError, Model, Settings, describe, parse_settings

CANARY = "fuzz-canary-secret-4b8d"
BASE_ENV = {"SECRET_CANARY": CANARY}

MODELS: list[type[Model]] = [Model, *Model.__subclasses__()]
KEYS = sorted(
    {field.alias or name for model in MODELS for name, field in model.model_fields.items()}
    | {
        "workspaces",
        "notifiers",
        "routes",
        "silences",
        "match",
        "continue",
        "type",
        "url",
        "secret",
    }
)
REFERENCES = ["${A}", "${A:-5}", "${SECRET_CANARY}", "${MISSING}", "${", "$${A}", "${A:-${B}}"]
WORDS = [
    "http://127.0.0.1:9",
    "0.0.0.0:1",
    "[::]:80",
    "smtp_failed",
    "console",
    "slack",
    "webhook",
    "*@x.io",
    "[x",
    "2026-12-01",
    "none",
    "",
]
TOKENS = [
    *KEYS,
    *REFERENCES,
    *WORDS,
    ":",
    ": ",
    "\n",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    '"',
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!timestamp ",
    "!python/object ",
    "# ",
    "|\n",
    ">\n",
    "? ",
    "<<: ",
    "---\n",
    "0",
    "-1",
    "1.5",
    "1e400",
    ".nan",
    ".inf",
    "true",
    "null",
    "~",
    "\t",
    "%YAML 1.1\n",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(REFERENCES + WORDS),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=6))
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
environments = st.dictionaries(
    st.sampled_from(["A", "B", "SMARTLEAD_API_KEY", "MONITOR_POLL_INTERVAL"]),
    st.one_of(st.text(max_size=10), st.sampled_from(["300", "0", "-1", "", "http://h:1", "x y"])),
).map(lambda env: {**env, **BASE_ENV})

VALID: dict[str, Any] = {
    "workspaces": [
        {"name": "a", "api_key": "${SECRET_CANARY}", "rate_limit": 2},
        {"name": "b", "api_key": "k-1234567", "base_url": "http://127.0.0.1:8089"},
    ],
    "polling": {"failure_interval": "${A:-300}", "retry": {"max_retries": 2}},
    "issues": {"failure_threshold": 2, "kinds": {"smtp_failed": {"success_threshold": 2}}},
    "notifiers": [
        {"type": "console", "name": "log"},
        {"type": "webhook", "name": "hook", "url": "http://127.0.0.1:9000", "secret": "s-123456"},
        {"type": "alertmanager", "name": "am", "url": ""},
    ],
    "routes": [{"match": {"workspace": "a", "kind": ["smtp_failed"]}, "notifiers": ["hook"]}],
    "silences": [{"match": {"email": "*@x.io"}, "until": "2026-12-01T00:00:00Z"}],
    "http": {"listen": "127.0.0.1:9877", "auth": {"bearer_token": "${B:-}"}},
    "state": {"path": "/tmp/state.db"},
    "logging": {"level": "info"},
}


def paths(node: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [loc]
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found += paths(child, (*loc, key))
    return found


PATHS = paths(VALID)[1:]


def replaced(loc: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    node: Any = data
    for part in loc[:-1]:
        node = node[part]
    node[loc[-1]] = value
    return data


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=yaml.CSafeDumper)


def check(text: str, env: dict[str, str]) -> None:
    try:
        loaded = parse_settings(text, env, source="fuzz.yaml")
    except ConfigError as error:
        assert error.problems
        assert all(isinstance(p, str) and p.strip() for p in error.problems)
        assert CANARY not in str(error)
    else:
        assert isinstance(loaded, Settings)
        assert isinstance(describe(loaded), str)


def test_the_valid_base_loads() -> None:
    """The document the mutation fuzzer starts from is valid, so mutations test validation."""
    assert isinstance(parse_settings(dump(VALID), BASE_ENV), Settings)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=60), environments)
def test_yaml_ish_text(tokens: list[str], env: dict[str, str]) -> None:
    """Arbitrary YAML-ish text: Settings or ConfigError, never another exception or a leak."""
    check("".join(tokens), env)


@settings(max_examples=200, deadline=None)
@given(trees, environments)
def test_arbitrary_documents(tree: Any, env: dict[str, str]) -> None:
    """Arbitrary well-formed YAML documents: Settings or ConfigError."""
    check(dump(tree), env)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PATHS), trees, environments)
def test_one_value_of_a_valid_config_replaced(
    loc: tuple[Any, ...], value: Any, env: dict[str, str]
) -> None:
    """A valid config with any one value replaced by anything: Settings or ConfigError."""
    check(dump(replaced(loc, value)), env)
