"""One inventory cycle of the real engine at 10,000 and 100,000 accounts: CPU and peak RSS.

The real path: SmartLeadClient over aiohttp, Engine.cycle, SQLiteStore on a temporary file,
the per-workspace metrics render, one webhook target (messages land in the outbox, nothing is
delivered). The simulator runs in a child process without a rate limit, so only the
monitor's CPU is counted. Three cycles: all accounts new, nothing changed, ~1 % changed.
Each size runs in a fresh process so its peak RSS (the kernel's VmHWM) is its own.
Goals (issue 3): ≤ 15 µs CPU per account for parse + diff + persist + metrics (the cycle
without its HTTP transport, which the goal does not list; the whole cycle is printed too),
≤ 1 KB peak RSS per account above the baseline of the opened, empty monitor.
Run alone: `python -m bench.cycle [N ...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp
from aiohttp import web

from monitor import __version__
from monitor.config import LoggingSettings, Settings
from monitor.core.lifecycle import evaluate
from monitor.core.model import Issue, IssueKey, PollKind, PollResult, iso
from monitor.core.routing import Target, plan
from monitor.core.snapshot import diff, merge
from monitor.engine import Engine
from monitor.logs import configure_logging
from monitor.memory import settle_after_start, use_one_malloc_arena
from monitor.metrics import MetricsExposition, SelfMetrics
from monitor.polls import run_poll
from monitor.smartlead.client import AccountList, SmartLeadClient
from monitor.smartlead.models import Account, decode_accounts, parse_accounts
from monitor.smartlead.simulator import Fleet, Simulator
from monitor.store import Cycle
from monitor.store.sqlite import SQLiteStore

SIZES = (10_000, 100_000)
CPU_GOAL = 15.0  # µs of monitor CPU per account: parse + diff + persist + metrics
RSS_GOAL = 1024.0  # bytes of peak RSS per account above the baseline
CHANGED_SHARE = 0.01
API_KEY = "bench-key"
WORKSPACE = "bench"
CONTROL_PATH = "/bench/change"  # the bench simulator's extra route: change a share of the fleet
REPLAYS = 3

_T = TypeVar("_T")


# --- the simulator child -----------------------------------------------------------------------


def change_fleet(fleet: Fleet, share: float, rng: random.Random) -> int:
    """Flip one health condition on `share` of the mailboxes (SMTP, IMAP, block, reputation)."""
    ids = rng.sample(fleet.ids(), round(share * len(fleet)))
    for n, account_id in enumerate(ids):
        box = fleet.mailbox(account_id)
        kind = n % 4
        if kind == 2 and box.warmup_status is None:
            kind = 0  # no warmup details to block
        if kind == 0:
            fleet.set_smtp(account_id, ok=not box.smtp_ok)
        elif kind == 1:
            fleet.set_imap(account_id, ok=not box.imap_ok)
        elif kind == 2:
            fleet.set_blocked(account_id, not box.blocked)
        else:
            fleet.set_reputation(account_id, 95.0 if box.reputation_low else 60.0)
    return len(ids)


def simulator_app(simulator: Simulator, seed: int) -> web.Application:
    """The simulator's app plus `POST /bench/change?share=S`, so a cycle can see changes."""
    app = simulator.app()
    rng = random.Random(seed)

    async def change(request: web.Request) -> web.Response:
        changed = change_fleet(simulator.fleet, float(request.query["share"]), rng)
        return web.json_response({"changed": changed})

    app.router.add_post(CONTROL_PATH, change)
    return app


async def serve_simulator(accounts: int, seed: int, key: str, rate: float | None) -> None:
    """Serve until stdin closes (the parent exited or closed it); print the URL first."""
    simulator = Simulator(Fleet(accounts, seed=seed), api_key=key, rate_limit=rate, burst=10)
    runner = web.AppRunner(simulator_app(simulator, seed), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


@dataclass
class SimulatorProcess:
    process: subprocess.Popen[str]
    url: str

    def cpu_seconds(self) -> float:
        """User and system CPU of the simulator so far, from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def spawn_simulator(
    accounts: int, *, seed: int = 1, key: str = API_KEY, rate: float | None = None
) -> subprocess.Popen[str]:
    """Start a bench simulator child; `ready` waits for it (so several build their fleets
    at once)."""
    command = [sys.executable, "-m", "bench.cycle", "--simulate", str(accounts),
               "--seed", str(seed), "--key", key]  # fmt: skip
    if rate is not None:
        command += ["--rate", str(rate)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ready(process: subprocess.Popen[str]) -> SimulatorProcess:
    """The started simulator once its fleet is built and its URL printed."""
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url:
        raise SystemExit(f"the simulator exited ({process.wait()}) before serving")
    return SimulatorProcess(process, url)


def start_simulator(
    accounts: int, *, seed: int = 1, key: str = API_KEY, rate: float | None = None
) -> SimulatorProcess:
    return ready(spawn_simulator(accounts, seed=seed, key=key, rate=rate))


# --- the monitor, with its phases timed ---------------------------------------------------------


class Phases:
    """Process CPU seconds spent per phase of a cycle (every thread of the process counts),
    and the rows and events the cycle committed (counts, under `written` and `events`)."""

    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)


class TimedClient(SmartLeadClient):
    """The real client; the CPU of its calls (HTTP, rate limit, decode) is recorded, and of
    the decoding within them."""

    phases: Phases

    async def list_accounts(
        self, filters: Mapping[str, str] | None = None, known: Mapping[int, Account] | None = None
    ) -> AccountList:
        started = time.process_time()
        try:
            return await super().list_accounts(filters, known)
        finally:
            self.phases.cpu["poll"] += time.process_time() - started

    async def get_account(self, account_id: int) -> Account | None:
        started = time.process_time()
        try:
            return await super().get_account(account_id)
        finally:
            self.phases.cpu["poll"] += time.process_time() - started

    def _parse(self, decode: Callable[[bytes], _T], *args: Any) -> _T:
        started = time.process_time()
        try:
            return super()._parse(decode, *args)
        finally:
            self.phases.cpu["decode"] += time.process_time() - started


class TimedStore(SQLiteStore):
    """The real store; the CPU of its commits (worker thread included) is recorded."""

    phases: Phases

    async def commit(self, cycle: Cycle) -> None:
        self.phases.cpu["written"] += len(cycle.accounts_upserted) + len(cycle.accounts_removed)
        self.phases.cpu["events"] += sum(len(message.events) for message in cycle.outbox)
        started = time.process_time()
        try:
            await super().commit(cycle)
        finally:
            self.phases.cpu["persist"] += time.process_time() - started

    async def pending_counts(self) -> dict[str, int]:
        started = time.process_time()
        try:
            return await super().pending_counts()
        finally:
            self.phases.cpu["persist"] += time.process_time() - started


class TimedEngine(Engine):
    """The real engine; the CPU of its per-cycle metrics render is recorded."""

    phases: Phases

    def render(self, name: str) -> None:
        started = time.process_time()
        try:
            super().render(name)
        finally:
            self.phases.cpu["render"] += time.process_time() - started


def settings_for(
    url: str, state: Path, *, rate: float = 1000.0, burst: int = 20, per_account: bool = True
) -> Settings:
    return Settings.model_validate(
        {
            "workspaces": [
                {"name": WORKSPACE, "api_key": API_KEY, "base_url": url, "rate_limit": rate,
                 "burst": burst}
            ],
            "notifiers": [{"type": "webhook", "name": "webhook", "url": "http://127.0.0.1:9/"}],
            "state": {"path": str(state)},
            "metrics": {"per_account": per_account},
        }
    )  # fmt: skip


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def reset_peak() -> bool:
    """Start a new RSS high-water mark at the current RSS (Linux ≥ 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class GcClock:
    """Wall seconds spent in the cyclic garbage collector (it runs holding the GIL)."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.spent += time.perf_counter() - self._started


class LoopStall:
    """The longest time the event loop did not run a 10 ms timer on time, while running.

    A cycle's synchronous steps hold the loop: /healthz, /metrics and the other workspaces'
    polls wait that long.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            due = time.perf_counter() + 0.01
            await asyncio.sleep(0.01)
            self.longest = max(self.longest, time.perf_counter() - due)

    def start(self) -> None:
        self.longest = 0.0
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.longest


@dataclass(frozen=True, slots=True)
class CycleFigures:
    label: str
    wall: float
    cpu: float
    phases: dict[str, float]  # http, decode, judge, persist, render: CPU seconds
    gc: float  # seconds in the cyclic GC, spread over the phases
    stall: float  # seconds: the longest the event loop was held
    peak_kib: int
    rss_kib: int
    written: int
    events: int
    simulator_cpu: float


@dataclass(frozen=True, slots=True)
class Run:
    accounts: int
    per_account: bool
    baseline_kib: int
    peak_per_cycle: bool  # False: the kernel refused a reset, peaks are since start
    cycles: list[CycleFigures]
    replay: dict[str, float]  # a ~1 % changed poll's pure steps, CPU seconds
    parse: dict[str, float]  # CPU seconds per account


def best(step: Callable[[], _T], rounds: int = REPLAYS) -> tuple[float, _T]:
    """Lowest CPU seconds over a few runs of a pure step, and its result."""
    times, result = [], None
    for _ in range(rounds):
        started = time.process_time()
        result = step()
        times.append(time.process_time() - started)
    assert result is not None
    return min(times), result


def replay(
    engine: Engine, accounts: Mapping[int, Account], issues: Mapping[IssueKey, Issue],
    outcome: PollResult,
) -> dict[str, float]:  # fmt: skip
    """The cycle's pure steps again, one by one, on the same inputs: where judging goes."""
    merged_cpu, merged = best(lambda: merge(accounts, outcome))
    diff_cpu, _ = best(lambda: diff(accounts, merged))
    evaluate_cpu, transition = best(lambda: evaluate(issues, outcome, engine.policy, accounts))
    plan_cpu, _ = best(
        lambda: plan(
            transition.events,
            transition.issues.values(),
            engine.targets,
            engine.settings.routes,
            engine.settings.silences,
            outcome.at,
            cycle=f"{WORKSPACE}|{outcome.poll}|{iso(outcome.at)}",
        )
    )
    return {"merge": merged_cpu, "diff": diff_cpu, "evaluate": evaluate_cpu, "plan": plan_cpu}


async def parse_split(session: aiohttp.ClientSession, url: str, pages: int) -> dict[str, float]:
    """CPU per account of decoding real page bodies: the path the client takes (msgspec,
    fields read straight from the bytes) and the tolerant fallback (json.loads + parse)."""
    bodies = []
    for page in range(pages):
        params = {"api_key": API_KEY, "limit": "100", "offset": str(page * 100)}
        async with session.get(url + "/api/v1/email-accounts/", params=params) as response:
            bodies.append(await response.read())
    decode_cpu, decoded = best(lambda: [decode_accounts(body) for body in bodies])
    tolerant_cpu, _ = best(lambda: [parse_accounts(json.loads(body)) for body in bodies])
    rows = sum(len(rows) for rows in decoded)
    return {"decode": decode_cpu / rows, "tolerant": tolerant_cpu / rows}


async def measure(accounts: int, per_account: bool, folder: Path, logs: TextIO) -> Run:
    simulator = start_simulator(accounts)
    try:
        settings = settings_for(simulator.url, folder / "state.db", per_account=per_account)
        configure_logging(  # production's pipeline at info level, into /dev/null
            LoggingSettings(level="info", format="json"),
            secrets=settings.secret_values(),
            stream=logs,
        )
        phases = Phases()
        async with aiohttp.ClientSession() as session:
            store = await TimedStore.open(settings.state.path)
            assert isinstance(store, TimedStore)
            store.phases = phases
            try:
                engine = build_engine(settings, session, store, phases)
                await engine.load()
                settle_after_start()  # as `smartlead-monitor run` does
                baseline = memory_kib()["VmRSS"]
                clock = GcClock()
                gc.callbacks.append(clock)
                cycles, per_cycle = [], True
                for label, share in (("all new", 0.0), ("unchanged", 0.0),
                                     ("~1 % changed", CHANGED_SHARE)):  # fmt: skip
                    if share:
                        await change(session, simulator.url, share)
                    per_cycle = reset_peak() and per_cycle
                    cycles.append(await one_cycle(engine, phases, clock, simulator, label))
                gc.callbacks.remove(clock)
                # Where judging goes: one more ~1 % change, polled but judged outside a cycle.
                await change(session, simulator.url, CHANGED_SHARE)
                state = engine.workspaces[WORKSPACE].state
                outcome = await run_poll(
                    engine.workspaces[WORKSPACE].api, WORKSPACE, PollKind.INVENTORY,
                    state.issues, engine.clock(), state.accounts,
                )  # fmt: skip
                assert isinstance(outcome, PollResult)
                replayed = replay(engine, state.accounts, state.issues, outcome)
                parse = await parse_split(session, simulator.url, 20)
            finally:
                await store.close()
        return Run(accounts, per_account, baseline, per_cycle, cycles, replayed, parse)
    finally:
        simulator.stop()


def build_engine(
    settings: Settings, session: aiohttp.ClientSession, store: TimedStore, phases: Phases
) -> TimedEngine:
    """The engine as monitor.daemon.open_monitor wires it, with its phases timed."""
    metrics = SelfMetrics([WORKSPACE], ["webhook"], __version__)
    client = TimedClient.for_workspace(
        session, settings.workspaces[0], settings.polling, metrics.count_request
    )
    client.phases = phases
    engine = TimedEngine(
        settings, store, {WORKSPACE: client}, [Target("webhook")], metrics,
        MetricsExposition(metrics),
    )  # fmt: skip
    engine.phases = phases
    return engine


async def change(session: aiohttp.ClientSession, url: str, share: float) -> None:
    async with session.post(url + CONTROL_PATH, params={"share": str(share)}) as response:
        response.raise_for_status()


async def one_cycle(
    engine: Engine, phases: Phases, clock: GcClock, simulator: SimulatorProcess, label: str
) -> CycleFigures:
    phases.cpu.clear()
    sim_cpu, gc_spent = simulator.cpu_seconds(), clock.spent
    stall = LoopStall()
    stall.start()
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = await engine.cycle(WORKSPACE, PollKind.INVENTORY)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    longest = await stall.stop()
    sim_cpu = simulator.cpu_seconds() - sim_cpu
    memory = memory_kib()
    if not isinstance(outcome, PollResult):
        raise SystemExit(f"the inventory poll failed: {outcome.error}")
    spent = dict(phases.cpu)
    written, events = int(spent.pop("written")), int(spent.pop("events"))
    spent["http"] = spent.pop("poll") - spent.get("decode", 0.0)  # and the rate limit
    spent["judge"] = cpu - sum(spent.values())
    return CycleFigures(
        label, wall, cpu, spent, clock.spent - gc_spent, longest, memory["VmHWM"],
        memory["VmRSS"], written, events, sim_cpu,
    )  # fmt: skip


# --- reporting -----------------------------------------------------------------------------------


def report(run: Run) -> bool:
    """Print one size's figures; False when a goal was missed."""
    us = 1e6 / run.accounts
    met = True
    series = "on" if run.per_account else "off"
    print(
        f"  {run.accounts:,} accounts, per-account series {series};"
        f" baseline RSS {run.baseline_kib / 1024:.1f} MiB (monitor opened, state empty)"
    )
    for f in run.cycles:
        whole = f.cpu * us
        p = {k: v * us for k, v in f.phases.items()}
        scope = whole - p["http"]  # parse + diff + persist + metrics
        peak = (f.peak_kib - run.baseline_kib) * 1024 / run.accounts
        ok_cpu, ok_rss = scope <= CPU_GOAL, peak <= RSS_GOAL
        met = met and ok_cpu and ok_rss
        print(
            f"  cycle {f.label:<13} CPU {scope:6.2f} µs/account without HTTP"
            f" (goal ≤ {CPU_GOAL:g}: {'ok' if ok_cpu else 'MISSED'}), {whole:6.2f} with it;"
            f" wall {f.wall:5.2f} s, {f.written:,} rows written, {f.events:,} events\n"
            f"      µs/account: HTTP and rate limit {p['http']:5.2f},"
            f" decode {p.get('decode', 0):5.2f},"
            f" judge {p['judge']:5.2f}, persist {p.get('persist', 0):5.2f},"
            f" render {p.get('render', 0):5.2f}; cyclic GC within them {f.gc * us:5.2f};"
            f" longest event-loop stall {f.stall:5.2f} s\n"
            f"      peak RSS {f.peak_kib / 1024:6.1f} MiB = {peak:5.0f} B/account above baseline"
            f" (goal ≤ {RSS_GOAL:g}: {'ok' if ok_rss else 'MISSED'}),"
            f" RSS after {f.rss_kib / 1024:6.1f} MiB; simulator CPU {f.simulator_cpu:4.1f} s",
            flush=True,
        )
    r = {k: v * us for k, v in run.replay.items()}
    print(
        f"  judge of a ~1 % changed poll replayed, µs/account: merge {r['merge']:5.2f},"
        f" diff {r['diff']:5.2f}, evaluate {r['evaluate']:5.2f}, plan {r['plan']:5.2f}\n"
        f"  pages decoded again, µs/account: {run.parse['decode'] * 1e6:5.2f} as the client"
        f" does, {run.parse['tolerant'] * 1e6:5.2f} by the tolerant fallback (20 real pages)",
        flush=True,
    )
    if not run.peak_per_cycle:
        print("  (the kernel refused to reset the peak: each peak is since the start)")
    return met


def measure_one(accounts: int, *, per_account: bool) -> int:
    use_one_malloc_arena()  # as the `smartlead-monitor` command does first
    with tempfile.TemporaryDirectory() as folder, Path(os.devnull).open("w") as logs:
        run = asyncio.run(measure(accounts, per_account, Path(folder), logs))
    return 0 if report(run) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cycle")
    parser.add_argument("sizes", nargs="*", type=int, help="fleet sizes (default: 10000 100000)")
    parser.add_argument(
        "--no-per-account", action="store_true", help="per-account series off (metrics option)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    parser.add_argument("--simulate", type=int, help=argparse.SUPPRESS)  # the simulator child
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--key", default=API_KEY, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.simulate is not None:
        asyncio.run(serve_simulator(args.simulate, args.seed, args.key, args.rate))
        return 0
    if args.one is not None:
        return measure_one(args.one, per_account=not args.no_per_account)
    print(
        "  real SmartLeadClient + Engine.cycle + SQLiteStore + render; simulator in a child"
        " process, no rate limit; CPU = process time of the monitor (all threads),"
        " peak RSS = VmHWM of each cycle",
        flush=True,
    )
    missed = False
    extra = ["--no-per-account"] if args.no_per_account else []
    for size in args.sizes or SIZES:
        command = [sys.executable, "-m", "bench.cycle", "--one", str(size), *extra]
        child = subprocess.run(command, check=False)
        missed = missed or child.returncode != 0
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
