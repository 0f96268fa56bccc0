"""`python -m monitor.smartlead.simulator`: the simulator alone, e.g. as a benchmark's subprocess.

With `--port 0` it binds a free port; the first line printed holds the URL.
"""

from __future__ import annotations

import argparse

from monitor.smartlead.simulator.app import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m monitor.smartlead.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-key", default="demo")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="RPS")
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--tick", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args()
    serve(
        port=args.port,
        accounts=args.accounts,
        seed=args.seed,
        api_key=args.api_key,
        rate_limit=args.rate_limit,
        tick_seconds=args.tick,
        host=args.host,
        burst=args.burst,
    )


if __name__ == "__main__":
    main()
