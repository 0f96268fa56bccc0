"""`python -m bench [NAME ...]`: run every benchmark (or the named ones) with its defaults.

Exits 1 when any benchmark reports a missed target, after running them all.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence

from bench import BENCHMARKS


def main(names: Sequence[str]) -> int:
    modules = [f"bench.{name}" for name in names] or list(BENCHMARKS)
    failed = []
    for name in modules:
        module = importlib.import_module(name)
        title = (module.__doc__ or name).strip().splitlines()[0]
        print(f"\n== {name}: {title}", flush=True)
        started = time.perf_counter()
        if module.main([]):
            failed.append(name)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nmissed targets in: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
