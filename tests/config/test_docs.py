"""docs/configuration.md stays true: every key and variable documented, its examples valid."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.config import Model, describe

from .helpers import SHIPPED, load

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def all_keys() -> set[str]:
    keys: set[str] = set()
    todo: list[type[Model]] = [Model]
    while todo:
        model = todo.pop()
        todo += model.__subclasses__()
        keys.update(field.alias or name for name, field in model.model_fields.items())
    return keys


def test_every_key_is_documented() -> None:
    """Each key any settings model accepts appears in the reference."""
    missing = [key for key in sorted(all_keys()) if not re.search(rf"\b{key}\b", DOC)]
    assert missing == []


def test_every_variable_of_the_shipped_file_is_documented() -> None:
    """Each `${VAR}` the shipped config reads is in the reference's table."""
    names = set(re.findall(r"\$\{([A-Z_]+)", SHIPPED.read_text()))
    assert len(names) >= 18
    assert [name for name in sorted(names) if f"`{name}`" not in DOC] == []


def test_the_examples_form_a_valid_config() -> None:
    """The YAML examples, put together, load; the summary shows what they configure."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    examples = [b for b in blocks if "scrape_configs" not in b]
    assert len(examples) == 6
    settings = load(
        "\n".join(examples),
        SMARTLEAD_API_KEY_AGENCY="k-agency-1",
        SMARTLEAD_API_KEY_ACME="k-acme-12",
        SMARTLEAD_API_KEY_STAGING="k-staging-1",
        WEBHOOK_SECRET="whsec_c2VjcmV0",
        MONITOR_HTTP_TOKEN="token-123456",
    )
    assert [ws.name for ws in settings.workspaces] == ["agency", "client-acme", "staging"]
    assert len(settings.routes) == 3
    assert len(settings.silences) == 4
    summary = describe(settings).splitlines()
    assert "  esp=GMAIL kind=reputation_low -> alertmanager" in summary
    assert "  workspace=client-acme -> acme-slack, continue" in summary
