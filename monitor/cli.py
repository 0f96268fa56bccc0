"""Command line (contract §2). Usage and config errors: one line on stderr, exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.config import ConfigError, Settings, describe, load_settings
from monitor.daemon import StartupError
from monitor.logs import configure_logging
from monitor.memory import settle_after_start, use_one_malloc_arena
from monitor.store import StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartlead-monitor",
        description="Health monitor for SmartLead mailboxes.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("run", "the daemon: poll, serve HTTP, deliver notifications"),
        ("once", "one full cycle for every workspace, then exit"),
        ("check-config", "validate the config and print every problem"),
        ("status", "print the open issues from the state store"),
        ("notify-test", "send a test message through every notifier"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $SMARTLEAD_MONITOR_CONFIG or config/monitor.yaml)",
        )
    simulate = commands.add_parser("simulate", help="run only the built-in SmartLead simulator")
    simulate.add_argument("--port", type=int, default=8089)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--accounts", type=int, default=500)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--api-key", default="demo")
    simulate.add_argument("--rate-limit", type=float, default=None, metavar="RPS")
    simulate.add_argument("--burst", type=int, default=10, help="requests allowed at once")
    simulate.add_argument(
        "--tick",
        type=float,
        default=None,
        metavar="SECONDS",
        help="change the fleet every SECONDS (default: a static fleet)",
    )
    demo = commands.add_parser("demo", help="the simulator and the daemon together, zero setup")
    demo.add_argument("--port", type=int, default=9877, help="HTTP port of the monitor")
    demo.add_argument("--accounts", type=int, default=300)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage error
        return EXIT_USAGE if exit_.code else EXIT_OK
    command: str = args.command
    use_one_malloc_arena()  # before any thread starts
    if command == "simulate":
        from monitor.smartlead.simulator import serve as serve_simulator

        serve_simulator(
            port=args.port,
            accounts=args.accounts,
            seed=args.seed,
            api_key=args.api_key,
            rate_limit=args.rate_limit,
            tick_seconds=args.tick,
            host=args.host,
            burst=args.burst,
        )
        return EXIT_OK
    if command == "demo":
        from monitor.demo import run_demo

        return run_demo(port=args.port, accounts=args.accounts)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"smartlead-monitor: invalid config:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    if command == "check-config":
        print(describe(settings))
        return EXIT_OK
    configure_logging(settings.logging, secrets=settings.secret_values())
    commands = {"status": print_status, "notify-test": notify_test, "once": once, "run": run}
    try:
        return asyncio.run(commands[command](settings))
    except (StoreError, StartupError) as error:
        # Cannot start: the state file or the listen address is unusable. Like a bad config,
        # one clear line and exit 2; the state file is left as it was.
        print(f"smartlead-monitor: cannot start: {error}", file=sys.stderr)
        return EXIT_USAGE


async def run(settings: Settings) -> int:
    from monitor.daemon import open_monitor, serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_monitor(settings) as monitor:
        settle_after_start()
        await serve(monitor, stop)
    return EXIT_OK


async def once(settings: Settings) -> int:
    from monitor.daemon import open_monitor, run_once

    async with open_monitor(settings) as monitor:
        ok = await run_once(monitor)
    return EXIT_OK if ok else EXIT_FAILED


async def print_status(settings: Settings) -> int:
    from monitor.status import open_issues_table

    print(await open_issues_table(settings))
    return EXIT_OK


async def notify_test(settings: Settings) -> int:
    from monitor.notify.selftest import send_test

    results = await send_test(settings)
    if not results:
        print("no notifier is configured")
    for name, error in results.items():
        print(f"{name}: {'ok' if error is None else 'FAILED: ' + error}")
    return EXIT_OK if all(e is None for e in results.values()) else EXIT_FAILED
