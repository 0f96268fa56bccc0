"""Command line: `smartlead-monitor run|once|check-config|status|notify-test|simulate|demo`."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("smartlead-monitor: not wired yet", file=sys.stderr)
    return 2
