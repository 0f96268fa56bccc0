"""100,000 accounts over 4 workspaces: the real daemon's start-up inventory and /metrics.

Four simulator children (25,000 accounts each, its own key, 20 requests/s, burst 10) and one
`smartlead-monitor run` process with the four workspaces at 20 requests/s each (burst 3), a
webhook notifier posting to a sink in this process, per-account series on. The rate is
20 x SmartLead's standard plan so the run stays short; the inventory is bound by it, so its
wall time scales back linearly (x 20 at 1 request/s).
Figures from the daemon's own log lines and /proc: each inventory cycle's wall time against
the rate-limit bound (its workspace's requests / rate), CPU and peak RSS per account from
"started" until the last inventory committed, then /metrics latency over HTTP.
Goals: wall ≤ 1.05 x bound + 0.5 s; issue 3's ≤ 1 KB RSS per account; median scrape
≤ 50 ms. The daemon's CPU per account is reported without a goal: it counts HTTP, the
start-up failure polls and the signed delivery of every event, which issue 3's ≤ 15 µs
(parse + diff + persist + metrics, judged in bench.cycle) does not.
Run alone: `python -m bench.scale [ACCOUNTS_PER_WORKSPACE]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bench.cycle import SimulatorProcess, memory_kib, ready, spawn_simulator

WORKSPACES = ("alpha", "bravo", "charlie", "delta")
PER_WORKSPACE = 25_000
RATE = 20.0
CLIENT_BURST = 3
PAGE_SIZE = 100
SCRAPES = 30
RSS_GOAL = 1024.0  # bytes per account
SCRAPE_GOAL = 50.0  # ms, median
WALL_SLACK = 0.5  # seconds over 1.05 x the bound: start-up jitter and one round trip
STARTUP_TIMEOUT = 60.0
INVENTORY_TIMEOUT = 150.0


@dataclass
class Sink:
    """A webhook receiver that accepts everything and counts what it got."""

    messages: int = 0
    events: int = 0

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.messages += 1
        self.events += len(body["data"]["events"])
        return web.Response(status=204)


@asynccontextmanager
async def serve_sink(sink: Sink) -> AsyncIterator[str]:
    app = web.Application(client_max_size=64 * 1024**2)
    app.router.add_post("/hook", sink.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def config(simulators: dict[str, SimulatorProcess], sink: str, port: int, state: Path) -> str:
    return yaml.safe_dump(
        {
            "workspaces": [
                {"name": name, "api_key": f"key-{name}", "base_url": sim.url, "rate_limit": RATE,
                 "burst": CLIENT_BURST}
                for name, sim in simulators.items()
            ],
            "polling": {"failure_interval": 300, "inventory_interval": 3600},
            "notifiers": [{"type": "webhook", "name": "webhook", "url": sink}],
            "http": {"listen": f"127.0.0.1:{port}"},
            "state": {"path": str(state)},
            "logging": {"level": "info", "format": "json"},
        }
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Daemon:
    """The `run` process and what its JSON log lines said."""

    process: asyncio.subprocess.Process
    lines: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    tail: list[str] = field(default_factory=list)

    async def read_logs(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            text = raw.decode(errors="replace").strip()
            self.tail = [*self.tail[-20:], text]
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict):
                await self.lines.put(line)
        await self.lines.put({"event": "exited"})

    async def until(self, event: str) -> dict[str, Any]:
        """The next log line of `event`; SystemExit if the daemon exits first."""
        while True:
            line = await self.lines.get()
            if line.get("event") == "exited":
                tail = "\n".join(self.tail)
                raise SystemExit(f"the daemon exited early:\n{tail}")
            if line.get("event") == event:
                return line


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: float | None = None

    @property
    def missed(self) -> bool:
        return self.goal is not None and self.value > self.goal

    def line(self) -> str:
        digits = 2 if self.unit else 0
        text = f"  {self.name:<52} {self.value:>9.{digits}f} {self.unit}"
        if self.goal is not None:
            verdict = "MISSED" if self.missed else "ok"
            text = f"{text:<72} goal ≤ {self.goal:.{digits}f} {self.unit}  {verdict}"
        return text.rstrip()


async def probe(port: int, latencies: list[float]) -> None:
    """GET /healthz every 0.1 s until cancelled, as a liveness probe would (ms to answer)."""
    async with aiohttp.ClientSession() as session:
        while True:
            started = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{port}/healthz") as reply:
                await reply.read()
            latencies.append((time.perf_counter() - started) * 1e3)
            await asyncio.sleep(0.1)


async def scrape(port: int, encoding: str) -> tuple[list[float], int]:
    """Times to the last byte of GET /metrics (ms), and the bytes on the wire."""
    timings, wire = [], 0
    headers = {"Accept-Encoding": encoding}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(SCRAPES):
            started, wire = time.perf_counter(), 0
            async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as reply:
                reply.raise_for_status()
                async for chunk in reply.content.iter_any():
                    wire += len(chunk)
            timings.append((time.perf_counter() - started) * 1e3)
    return timings, wire


async def run(per_workspace: int, folder: Path) -> list[Figure]:
    accounts = per_workspace * len(WORKSPACES)
    children = {
        name: spawn_simulator(per_workspace, seed=n + 1, key=f"key-{name}", rate=RATE)
        for n, name in enumerate(WORKSPACES)
    }
    simulators = {name: ready(child) for name, child in children.items()}
    sink = Sink()
    try:
        async with serve_sink(sink) as sink_url:
            port = free_port()
            path = folder / "monitor.yaml"
            path.write_text(config(simulators, sink_url, port, folder / "state.db"))
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", "run", "--config", str(path),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            daemon = Daemon(process)
            reading = asyncio.create_task(daemon.read_logs())
            try:
                figures = await measure(daemon, port, accounts, sink)
            finally:
                stopping = time.perf_counter()
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 15)
                stopping = time.perf_counter() - stopping
                await reading
            return [
                *figures,
                Figure("SIGTERM to exit", stopping, "s", 10.0),
                Figure("exit code after SIGTERM", code, "", 0),
            ]
    finally:
        for simulator in simulators.values():
            simulator.stop()


async def measure(daemon: Daemon, port: int, accounts: int, sink: Sink) -> list[Figure]:
    pid = daemon.process.pid
    async with asyncio.timeout(STARTUP_TIMEOUT):
        await daemon.until("started")
    started, cpu_start, rss_start = time.perf_counter(), cpu_seconds(pid), memory_kib(pid)["VmRSS"]
    inventories: dict[str, dict[str, Any]] = {}
    requests: dict[str, int] = dict.fromkeys(WORKSPACES, 0)
    probes: list[float] = []
    probing = asyncio.create_task(probe(port, probes))
    async with asyncio.timeout(INVENTORY_TIMEOUT):
        while len(inventories) < len(WORKSPACES):
            line = await daemon.until("poll")
            if line.get("outcome") != "ok":
                raise SystemExit(f"a poll failed: {line}")
            requests[line["workspace"]] += line["requests"]
            if line["poll"] == "inventory":
                inventories[line["workspace"]] = {
                    **line,
                    "requests_so_far": requests[line["workspace"]],
                }
    wall = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_start
    memory = memory_kib(pid)
    probing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probing
    await asyncio.sleep(1.0)  # let the outbox deliver the start-up events
    figures = []
    for name, line in sorted(inventories.items()):
        bound = line["requests_so_far"] / RATE
        seconds = line["duration_ms"] / 1000
        figures.append(
            Figure(
                f"{name}: inventory, {line['pages']} pages ({line['requests_so_far']} req.)",
                seconds, "s", 1.05 * bound + WALL_SLACK,
            )
        )  # fmt: skip
    pages = sum(line["pages"] for line in inventories.values())
    figures += [
        Figure("rate-limit bound of one workspace's inventory", pages / len(WORKSPACES) / RATE,
               "s"),
        Figure("start-up until every inventory committed (wall)", wall, "s"),
        Figure("daemon CPU per account over that time (all of it)", cpu / accounts * 1e6, "µs"),
        Figure("daemon peak RSS above its RSS at 'started'",
               (memory["VmHWM"] - rss_start) * 1024 / accounts, "B/acc.", RSS_GOAL),
        Figure("daemon RSS at 'started'", rss_start / 1024, "MiB"),
        Figure("daemon peak RSS", memory["VmHWM"] / 1024, "MiB"),
        Figure("events delivered to the webhook sink", sink.events, ""),
        Figure(f"GET /healthz during the inventories: median of {len(probes)}",
               statistics.median(probes), "ms"),
        Figure("GET /healthz during the inventories: max (event-loop stall)", max(probes),
               "ms"),
    ]  # fmt: skip
    for encoding in ("identity", "gzip"):
        before = cpu_seconds(pid)
        timings, wire = await scrape(port, encoding)
        per_scrape = (cpu_seconds(pid) - before) / SCRAPES * 1e3
        figures += [
            Figure(f"GET /metrics {encoding}: median of {SCRAPES}", statistics.median(timings),
                   "ms", SCRAPE_GOAL),
            Figure(f"GET /metrics {encoding}: max", max(timings), "ms"),
            Figure(f"GET /metrics {encoding}: daemon CPU per scrape", per_scrape, "ms"),
            Figure(f"GET /metrics {encoding}: size on the wire", wire / 1e6, "MB"),
        ]  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    per_workspace = int(args[0]) if args else PER_WORKSPACE
    print(
        f"  {len(WORKSPACES)} workspaces x {per_workspace:,} accounts, {RATE:g} requests/s each"
        f" (client burst {CLIENT_BURST}); simulators and the daemon in child processes",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(run(per_workspace, Path(folder)))
    for figure in figures:
        print(figure.line(), flush=True)
    return 1 if any(figure.missed for figure in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
