"""The `demo` command: the simulator with a changing fleet and the daemon watching it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.config import Settings
from monitor.logs import configure_logging

DEMO_STATE = Path("data/demo.db")
FAILURE_INTERVAL = 5.0  # seconds: issues open and resolve within a minute
INVENTORY_INTERVAL = 20.0
FLEET_TICK = 4.0


def demo_settings(base_url: str, port: int) -> Settings:
    """A one-workspace config aimed at the simulator, plus any notifier set by env."""
    return Settings.model_validate(
        {
            "workspaces": [
                {"name": "demo", "api_key": "demo", "base_url": base_url, "rate_limit": 20}
            ],
            "polling": {
                "failure_interval": FAILURE_INTERVAL,
                "inventory_interval": INVENTORY_INTERVAL,
            },
            "issues": {"repeat_interval": 60},
            "notifiers": [
                {"type": "console", "name": "console"},
                *notifiers_from_env(os.environ),
            ],
            "http": {"listen": f"127.0.0.1:{port}"},
            "state": {"path": str(DEMO_STATE)},
            "logging": {"level": "info", "format": "console"},
        }
    )


def notifiers_from_env(env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The notifiers the shipped config would enable from the same variables."""
    found: list[dict[str, Any]] = []
    if env.get("SLACK_WEBHOOK_URL"):
        found.append({"type": "slack", "name": "slack", "url": env["SLACK_WEBHOOK_URL"]})
    if env.get("WEBHOOK_URL"):
        secret = env.get("WEBHOOK_SECRET") or None
        found.append(
            {"type": "webhook", "name": "webhook", "url": env["WEBHOOK_URL"], "secret": secret}
        )
    if env.get("ALERTMANAGER_URL"):
        found.append(
            {"type": "alertmanager", "name": "alertmanager", "url": env["ALERTMANAGER_URL"]}
        )
    return found


def run_demo(port: int, accounts: int) -> int:
    from monitor.daemon import StartupError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_demo(port, accounts))
    except StartupError as error:
        print(f"smartlead-monitor demo: {error} (try --port)", file=sys.stderr)
        return 2
    return 0


async def _demo(port: int, accounts: int) -> None:
    from monitor.daemon import open_monitor, serve
    from monitor.smartlead.simulator import Fleet, run_simulator

    for leftover in DEMO_STATE.parent.glob(DEMO_STATE.name + "*"):
        leftover.unlink()  # every demo starts from a clean slate
    fleet = Fleet(accounts, seed=7)
    async with run_simulator(fleet, api_key="demo", tick_seconds=FLEET_TICK) as simulator:
        settings = demo_settings(simulator.url, port)
        configure_logging(settings.logging)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(BANNER.format(sim=simulator.url, port=port, accounts=accounts), flush=True)
        async with open_monitor(settings) as monitor:
            await serve(monitor, stop)


BANNER = """
smartlead-monitor demo: a simulated SmartLead workspace of {accounts} mailboxes whose health
changes every few seconds; the daemon polls it every 5 s and prints each event below.

  metrics       http://127.0.0.1:{port}/metrics
  open issues   http://127.0.0.1:{port}/api/v1/issues
  status        http://127.0.0.1:{port}/api/v1/status
  simulator     {sim}/api/v1/email-accounts/?api_key=demo&isSmtpSuccess=false

Press Ctrl-C to stop.
"""
