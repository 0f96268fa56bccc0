"""Golden files: rendered payloads checked in under tests/notify/golden/.

Run the tests with UPDATE_GOLDEN=1 to rewrite them after an intended change, then review
the diff like any other code change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, payload: Any) -> None:
    """The payload, pretty-printed with its own key order, equals the golden file."""
    path = GOLDEN / name
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run the tests once with UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text, f"{name} differs from the golden file"
