"""What metrics cost at scale: the per-cycle fleet render and a `/metrics` scrape.

Run with `python -m bench.metrics [N ...]` (default 100,000 accounts over 4 workspaces, 2 %
with a firing issue). Goals (issue 3): render ≤ 4 µs CPU per account, scrape median ≤ 50 ms.
The server runs in a child process, as the daemon does beside Prometheus; its CPU per scrape
(startup included) is the figure least disturbed by a busy machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import aiohttp
from aiohttp import web

from monitor import views
from monitor.config import HttpAuth
from monitor.core.model import AccountRef, Issue, IssueKey, IssueKind, PollKind
from monitor.http import create_app
from monitor.metrics import MetricsExposition, SelfMetrics, render_fleet, render_workspace
from monitor.packed import Part
from monitor.smartlead.models import Account, WarmupDetails
from monitor.store import PollStatus, WorkspaceState

SIZES = (100_000,)
WORKSPACES = ("alpha", "bravo", "charlie", "delta")
ESPS = ("GMAIL", "OUTLOOK", "SMTP", "ZOHO")
SCRAPES = 50
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def fleet(size: int) -> dict[str, WorkspaceState]:
    """`size` accounts spread over the workspaces; every 50th has SMTP failing and an issue."""
    states = {name: WorkspaceState() for name in WORKSPACES}
    for i in range(size):
        name = WORKSPACES[i % len(WORKSPACES)]
        failing = i % 50 == 0
        account = Account(
            id=1_000_000 + i,
            email=f"sender{i}@client{i % 97}.example",
            from_name=f"Sender {i}",
            esp=ESPS[i % 4],
            client_id=None if i % 5 == 0 else i % 97,
            is_smtp_success=not failing,
            smtp_failure_error="535 Authentication failed" if failing else None,
            is_imap_success=True,
            imap_failure_error=None,
            daily_sent_count=i % 40,
            message_per_day=40,
            warmup=None
            if i % 10 == 0
            else WarmupDetails("ACTIVE", (70 + i % 31) / 100, False, None),
        )
        state = states[name]
        state.accounts[account.id] = account
        if failing:
            key = IssueKey(name, account.id, IssueKind.SMTP_FAILED)
            state.issues[key] = Issue(
                key=key,
                account=AccountRef.of(account),
                since=NOW,
                detail={"error": account.smtp_failure_error},
                observed_at=NOW,
                firing=True,
                failing_streak=1,
            )
    for name, state in states.items():
        state.polls[PollKind.FAILURE] = PollStatus(name, PollKind.FAILURE, NOW, True, 2.0)
    return states


def cpu_per_account(size: int, action: Callable[[], object], repeat: int = 5) -> float:
    """Median CPU microseconds per account over a few runs."""
    runs = []
    for _ in range(repeat):
        start = time.process_time()
        action()
        runs.append(time.process_time() - start)
    return statistics.median(runs) / size * 1e6


class BenchView:
    def __init__(self, states: dict[str, WorkspaceState], exposition: MetricsExposition) -> None:
        self.states = states
        self.exposition = exposition

    def alive(self) -> bool:
        return True

    def readiness(self) -> tuple[bool, dict[str, object]]:
        return views.readiness(self.states, NOW, 300.0)

    def metrics(self, gzip: bool) -> Sequence[Part]:
        return self.exposition.gzip_parts() if gzip else self.exposition.parts()

    def issues(self) -> list[dict[str, object]]:
        return views.issues_json(self.states, lambda issue: False)

    def status(self) -> dict[str, object]:
        return views.status_json(self.states, {}, NOW)


def serve(view: BenchView, ready: Connection) -> None:
    """The daemon's side, in its own process as in production: Prometheus is another one."""

    async def run() -> None:
        runner = web.AppRunner(create_app(view, HttpAuth()), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        ready.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(run())


async def scrape(port: int, scrapes: int, encoding: str) -> tuple[float, float, int]:
    """Median and worst time to the last byte of GET /metrics over loopback, and the bytes
    on the wire. The body is read and dropped, not decoded: decoding is the scraper's cost."""
    timings = []
    wire = 0
    headers = {"Accept-Encoding": encoding}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(scrapes):
            start = time.perf_counter()
            wire = 0
            async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as reply:
                async for chunk in reply.content.iter_any():
                    wire += len(chunk)
            timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e3, max(timings) * 1e3, wire


def scrape_latency(view: BenchView, scrapes: int, encoding: str) -> tuple[float, float, float, int]:
    """Median and worst scrape in ms, the server's CPU ms per scrape, and the wire size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    here, there = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(view, there))
    server.start()
    try:
        median, worst, wire = asyncio.run(scrape(here.recv(), scrapes, encoding))
    finally:
        server.terminate()
        server.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return median, worst, cpu / scrapes * 1e3, wire


def run(size: int) -> None:
    states = fleet(size)
    metrics = SelfMetrics(WORKSPACES, ["slack", "webhook"], "bench")
    for per_account in (True, False):
        one = WORKSPACES[0]  # a cycle re-renders only the workspace it polled

        def workspace(name: str = one, per_account: bool = per_account) -> object:
            return render_workspace(name, states[name], per_account=per_account, reputation_low=0.8)

        def whole(per_account: bool = per_account) -> object:
            return render_fleet(states, per_account=per_account, reputation_low=0.8)

        label = f"{size:>7} accounts, per-account {'on ' if per_account else 'off'}"
        print(
            f"{label}  render CPU/account: one workspace's cycle"
            f" {cpu_per_account(len(states[one].accounts), workspace):4.2f} µs,"
            f" whole fleet {cpu_per_account(size, whole):4.2f} µs",
            flush=True,
        )
        exposition = MetricsExposition(metrics)
        for name, state in states.items():
            exposition.update_workspace(
                name, render_workspace(name, state, per_account=per_account, reputation_low=0.8)
            )
        for encoding in ("identity", "gzip"):
            median, worst, cpu, wire = scrape_latency(
                BenchView(states, exposition), SCRAPES, encoding
            )
            print(
                f"{label}  GET /metrics {encoding:<8} median {median:5.1f} ms,"
                f" max {worst:5.1f} ms, server CPU {cpu:4.1f} ms/scrape,"
                f" {wire / 1e6:4.1f} MB on the wire ({SCRAPES} scrapes)",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    sizes = [int(arg) for arg in (argv if argv is not None else sys.argv[1:])] or SIZES
    for size in sizes:
        run(size)


if __name__ == "__main__":
    main()
