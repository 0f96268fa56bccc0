"""`${VAR}` and `${VAR:-default}` inside YAML string values."""

from __future__ import annotations

import pytest

from .helpers import load, problems

STATE = "workspaces: [{{name: w, api_key: k-1234567}}]\nstate: {{path: '{}'}}\n"


def state_path(template: str, **env: str) -> str:
    return load(STATE.format(template), **env).state.path


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("${DIR}", {"DIR": "/data/a.db"}, "/data/a.db"),
        ("${DIR:-/tmp/x.db}", {}, "/tmp/x.db"),
        ("${DIR:-/tmp/x.db}", {"DIR": ""}, "/tmp/x.db"),
        ("${DIR:-/tmp/x.db}", {"DIR": "/set.db"}, "/set.db"),
        ("${DIR:-}x.db", {}, "x.db"),
        ("/var/${SUB}/${NAME}.db", {"SUB": "lib", "NAME": "m"}, "/var/lib/m.db"),
        ("$${DIR}", {"DIR": "/ignored"}, "${DIR}"),
        ("cost$5.db", {}, "cost$5.db"),
        ("${DIR:-a:-b}", {}, "a:-b"),
    ],
)
def test_reference_forms(template: str, env: dict[str, str], expected: str) -> None:
    """Each reference form resolves as in a shell: `:-` also covers a set-but-empty variable."""
    assert state_path(template, **env) == expected


def test_a_set_but_empty_variable_without_default_is_empty() -> None:
    """`${VAR}` with VAR="" gives "" (no default applies), like a shell."""
    found = problems(STATE.format("${DIR}"), DIR="")
    assert found == ["state.path: must not be empty (from DIR)"]


def test_an_environment_value_is_not_expanded_again() -> None:
    """A value that itself looks like `${X}` is taken literally: no second round."""
    assert state_path("${DIR}", DIR="${HOME}") == "${HOME}"


def test_numbers_from_the_environment_validate_as_numbers() -> None:
    """ "300" from an env var is a number of seconds; "2" a threshold; "true" a boolean."""
    settings = load(
        "workspaces: [{name: w, api_key: k-1234567, rate_limit: '${RPS}'}]\n"
        "polling: {failure_interval: '${POLL}'}\n"
        "issues: {failure_threshold: '${FAIL}'}\n"
        "metrics: {per_account: '${PER}'}\n",
        RPS="2.5",
        POLL="300",
        FAIL="2",
        PER="false",
    )
    assert settings.polling.failure_interval == 300.0
    assert settings.workspaces[0].rate_limit == 2.5
    assert settings.issues.failure_threshold == 2
    assert settings.metrics.per_account is False


def test_yaml_types_are_kept_where_nothing_is_interpolated() -> None:
    """A plain YAML number stays a number; only strings are scanned for references."""
    settings = load("workspaces: [{name: w, api_key: k-1234567}]\npolling: {failure_interval: 7}")
    assert settings.polling.failure_interval == 7.0


def test_an_unset_variable_names_itself_and_the_key() -> None:
    """An unset `${VAR}` without default is a problem naming the variable and the key path."""
    found = problems("workspaces:\n  - name: w\n    api_key: ${MY_KEY}\n")
    assert found == ["workspaces[0].api_key: environment variable MY_KEY is not set"]


def test_every_unset_variable_is_reported() -> None:
    """Two unset variables in one value and one elsewhere: three problems, none hidden."""
    found = problems("workspaces: [{name: w, api_key: '${A}${B}'}]\nhttp: {listen: '${LISTEN}'}\n")
    assert found == [
        "workspaces[0].api_key: environment variable A is not set",
        "workspaces[0].api_key: environment variable B is not set",
        "http.listen: environment variable LISTEN is not set",
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${}", "malformed ${...}"),
        ("${1ABC}", "malformed ${...}"),
        ("${A B}", "malformed ${...}"),
        ("${A:-x", "malformed ${...}"),
        ("abc${", "malformed ${...}"),
        ("${A:-${B}}", "a default cannot hold ${...}"),
    ],
)
def test_malformed_references(template: str, expected: str) -> None:
    """A reference that is not `${NAME}` or `${NAME:-default}` is a problem at its key."""
    found = problems(STATE.format(template))
    assert len(found) == 1
    assert found[0].startswith("state.path: ")
    assert expected in found[0]


def test_references_are_resolved_in_lists_and_keys_stay_literal() -> None:
    """List items are interpolated too; mapping keys are never interpolated."""
    settings = load(
        MINIMAL_WITH_ROUTE,
        WS="main",
    )
    assert settings.routes[0].match.workspace == ["main"]
    found = problems("workspaces: [{name: w, api_key: k-1234567}]\n'${KEY}': 1\n", KEY="state")
    assert found == ["${KEY}: unknown key"]


MINIMAL_WITH_ROUTE = """\
workspaces: [{name: main, api_key: k-1234567}]
notifiers: [{type: console, name: log}]
routes:
  - match: {workspace: ['${WS}']}
    notifiers: [log]
"""
