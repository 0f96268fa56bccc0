"""`python -m monitor.smartlead.simulator`: the same as `smartlead-monitor simulate`.

With `--port 0` it binds a free port; the first line printed holds the URL.
"""

from __future__ import annotations

import sys

from monitor.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["simulate", *sys.argv[1:]]))
