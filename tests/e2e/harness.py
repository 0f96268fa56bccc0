"""Drive the real `smartlead-monitor run` process against the in-process simulator and a sink.

`open_harness(tmp_path)` starts the simulator (a seeded fleet the test changes directly) and a
webhook sink on 127.0.0.1, writes a YAML config with intervals of a second or two, and starts
`python -m monitor run --config ...` as a child process. The test then polls the daemon's HTTP
API and the sink with deadlines (`wait_until`), never with fixed sleeps:

    async with open_harness(tmp_path, accounts=350) as h:
        h.fleet.set_smtp(h.fleet.ids()[3], ok=False)
        await h.wait_ready()
        await h.wait_until(lambda: len(h.events()) == 1, 10, "the firing event")
        code, seconds = await h.stop()

The child always dies at teardown; its stdout and stderr are files in `tmp_path`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import aiohttp
import yaml
from notify.sink import Received, WebhookSink

from monitor.smartlead.simulator import Fleet, InitialMix, Simulator, run_simulator

T = TypeVar("T")

API_KEY = "e2e-key-0123456789"  # the simulator's key; long enough for the log scrubber
WEBHOOK_PATH = "/webhook"
POLL_EVERY = 0.05  # seconds between two looks of `wait_until`
START_TIMEOUT = 20.0  # seconds for a child to answer /readyz (2 slow cores, cold imports)
STOP_TIMEOUT = 15.0  # seconds before a child that ignores SIGTERM is killed
QUIET_FLEET = InitialMix(0.0, 0.0, 0.0, 0.0)  # nothing failing until the test says so
# Environment variables the child must not inherit: they would change the config it reads.
INHERITED_PREFIXES = ("SMARTLEAD_", "MONITOR_", "LOG_")
INHERITED_NAMES = frozenset(
    {"WEBHOOK_URL", "WEBHOOK_SECRET", "SLACK_WEBHOOK_URL", "ALERTMANAGER_URL"}
)

FAST_POLLING: dict[str, Any] = {
    "failure_interval": 1.0,
    "inventory_interval": 4.0,
    "retry": {"max_retries": 1, "initial_backoff": 0.05, "max_backoff": 0.2, "timeout": 5.0},
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """The test's environment minus every variable the shipped config or logging would read."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(INHERITED_PREFIXES) and key not in INHERITED_NAMES
    }


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def webhook_notifier(url: str, name: str = "webhook", secret: str | None = None) -> dict[str, Any]:
    """A `webhook` notifier entry for the config."""
    entry: dict[str, Any] = {"type": "webhook", "name": name, "url": url}
    if secret is not None:
        entry["secret"] = secret
    return entry


def slack_notifier(url: str, name: str = "slack") -> dict[str, Any]:
    """A `slack` notifier entry; the URL may be the loopback sink."""
    return {"type": "slack", "name": name, "url": url}


def monitor_config(
    *,
    simulator_url: str,
    listen_port: int,
    state_path: Path,
    notifiers: Sequence[Mapping[str, Any]],
    api_key: str = API_KEY,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The daemon's YAML config as a dict: one workspace on the simulator, fast polls, JSON logs."""
    config: dict[str, Any] = {
        "workspaces": [
            {
                "name": "default",
                "api_key": api_key,
                "base_url": simulator_url,
                "rate_limit": 500,
                "burst": 20,
            }
        ],
        "polling": FAST_POLLING,
        "issues": {"repeat_interval": 0},
        "notifiers": [dict(n) for n in notifiers],
        "http": {"listen": f"127.0.0.1:{listen_port}"},
        "state": {"path": str(state_path)},
        "logging": {"level": "info", "format": "json"},
    }
    return deep_merge(config, overrides or {})


@dataclass(frozen=True)
class Completed:
    """A finished CLI command: exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class Harness:
    """The simulator, the sink and one daemon process at a time, on one state file."""

    def __init__(
        self,
        workdir: Path,
        simulator: Simulator,
        sink: WebhookSink,
        config: dict[str, Any],
        session: aiohttp.ClientSession,
    ) -> None:
        self.workdir = workdir
        self.simulator = simulator
        self.fleet: Fleet = simulator.fleet
        self.sink = sink
        self.config = config
        self.config_path = workdir / "monitor.yaml"
        self.state_path = Path(config["state"]["path"])
        self.port = int(str(config["http"]["listen"]).rsplit(":", 1)[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.runs = 0  # how many daemon processes were started
        self.arrivals: list[float] = []  # time.monotonic() of each sink request, by index
        self._session = session
        self.write_config()

    # -- config ----------------------------------------------------------------------------

    def write_config(self, config: Mapping[str, Any] | None = None) -> Path:
        """(Re)write the YAML file; a later `start`/`restart` reads it."""
        if config is not None:
            self.config = dict(config)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False), "utf-8")
        return self.config_path

    # -- the daemon process ----------------------------------------------------------------

    def log_path(self, run: int | None = None) -> Path:
        """The stderr file (JSON log lines) of run `run` (1-based; default the latest)."""
        return self.workdir / f"daemon-{run or self.runs}.stderr"

    async def start(self) -> None:
        """Start `python -m monitor run`; does not wait for readiness (see `wait_ready`)."""
        if self.running:
            raise AssertionError("the daemon is already running")
        self.runs += 1
        stdout = (self.workdir / f"daemon-{self.runs}.stdout").open("wb")
        stderr = self.log_path().open("wb")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(self.config_path),
                stdout=stdout,
                stderr=stderr,
                stdin=asyncio.subprocess.DEVNULL,
                env=child_env(),
                cwd=self.workdir,
            )
        finally:
            stdout.close()
            stderr.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def wait_ready(self, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until /readyz answers 200 (a successful failure poll happened)."""

        async def ready() -> bool:
            status, _ = await self.get("/readyz")
            return status == 200

        await self.wait_until(ready, timeout, "daemon ready (/readyz 200)")

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `sig` and wait for the exit: (exit code, seconds it took). Killed after 15 s."""
        process = self._require_process()
        started = time.monotonic()
        if process.returncode is None:
            process.send_signal(sig)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        assert process.returncode is not None
        return process.returncode, time.monotonic() - started

    async def kill9(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed (a crash or an OOM kill)."""
        process = self._require_process()
        if process.returncode is None:
            process.kill()
            await process.wait()

    async def restart(self, *, ready: bool = True) -> None:
        """Stop the daemon with SIGTERM if it runs, start a new one on the same state file."""
        if self.running:
            code, _ = await self.stop()
            assert code == 0, f"the daemon exited with {code} on SIGTERM:\n{self.stderr_tail()}"
        await self.start()
        if ready:
            await self.wait_ready()

    def _require_process(self) -> asyncio.subprocess.Process:
        if self.process is None:
            raise AssertionError("the daemon was never started")
        return self.process

    # -- what the daemon says --------------------------------------------------------------

    async def get(self, path: str) -> tuple[int, Any]:
        """GET a daemon path: (status, JSON or text); (0, error name) when nothing answers."""
        try:
            async with self._session.get(
                self.base_url + path, timeout=aiohttp.ClientTimeout(total=5)
            ) as response:
                text = await response.text()
                if response.content_type == "application/json":
                    return response.status, json.loads(text)
                return response.status, text
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return 0, type(error).__name__

    async def get_json(self, path: str) -> Any:
        """GET a JSON endpoint that must answer 200."""
        status, body = await self.get(path)
        assert status == 200, f"GET {path}: {status} {body!r}"
        return body

    async def metrics_text(self) -> str:
        status, body = await self.get("/metrics")
        assert status == 200 and isinstance(body, str), f"GET /metrics: {status}"
        return body

    async def open_issues(self) -> set[tuple[int | None, str]]:
        """The open issues of /api/v1/issues as (account id, kind) pairs."""
        rows = await self.get_json("/api/v1/issues")
        return {(row["account_id"], row["kind"]) for row in rows}

    def logs(self, run: int | None = None) -> list[dict[str, Any]]:
        """The JSON log lines of one run (default: every run, oldest first)."""
        runs = [run] if run is not None else range(1, self.runs + 1)
        lines: list[dict[str, Any]] = []
        for number in runs:
            path = self.log_path(number)
            if not path.exists():
                continue
            for line in path.read_text("utf-8", "replace").splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        lines.append(record)
        return lines

    def polls(
        self, poll: str | None = None, outcome: str | None = None, run: int | None = None
    ) -> list[dict[str, Any]]:
        """The canonical `poll` log lines (of run `run`, default the latest), filtered."""
        return [
            line
            for line in self.logs(run or self.runs)
            if line.get("event") == "poll"
            and (poll is None or line.get("poll") == poll)
            and (outcome is None or line.get("outcome") == outcome)
        ]

    async def wait_polls(
        self,
        failure: int = 0,
        inventory: int = 0,
        *,
        outcome: str | None = None,
        timeout: float = 20.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until this many more failure and inventory polls (with `outcome`, if given)
        have finished in the current run, counted from now."""
        wanted = {
            "failure": len(self.polls("failure", outcome)) + failure,
            "inventory": len(self.polls("inventory", outcome)) + inventory,
        }
        await self.wait_until(
            lambda: all(len(self.polls(p, outcome)) >= n for p, n in wanted.items()),
            timeout,
            f"{failure} failure and {inventory} inventory polls (outcome {outcome or 'any'})",
        )

    async def wait_outbox_empty(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Wait until /api/v1/status reports no pending outbox message."""

        async def empty() -> bool:
            status = await self.get_json("/api/v1/status")
            return bool(status["outbox"]["total"] == 0)

        await self.wait_until(empty, timeout, "outbox empty")

    def stderr_tail(self, chars: int = 3000) -> str:
        path = self.log_path()
        return path.read_text("utf-8", "replace")[-chars:] if path.exists() else ""

    # -- what the sink got -----------------------------------------------------------------

    def arrived_at(self, received: Received) -> float:
        """When the sink got this request (time.monotonic(), stamped on arrival)."""
        index = next(i for i, r in enumerate(self.sink.received) if r is received)
        return self.arrivals[index]

    def events(self, path: str = WEBHOOK_PATH) -> list[dict[str, Any]]:
        """Every event of every accepted webhook body at `path`, in arrival order."""
        return self.sink.webhook_events(path)

    # -- waiting ---------------------------------------------------------------------------

    @overload
    async def wait_until(
        self,
        predicate: Callable[[], Awaitable[T]],
        timeout: float,  # noqa: ASYNC109 (a polling deadline, not a cancellation scope)
        what: str,
        *,
        daemon_must_run: bool = True,
    ) -> T: ...

    @overload
    async def wait_until(
        self,
        predicate: Callable[[], T],
        timeout: float,  # noqa: ASYNC109
        what: str,
        *,
        daemon_must_run: bool = True,
    ) -> T: ...

    async def wait_until(
        self,
        predicate: Callable[[], Any],
        timeout: float,  # noqa: ASYNC109
        what: str,
        *,
        daemon_must_run: bool = True,
    ) -> Any:
        """Poll `predicate` (sync or async) until it returns something truthy; return that.

        Fails after `timeout` seconds with `what` and the last value, or at once if the
        daemon process exited meanwhile (unless `daemon_must_run` is false).
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last = value
            if daemon_must_run and self.process is not None and not self.running:
                raise AssertionError(
                    f"{what}: the daemon exited with {self.process.returncode}\n"
                    f"{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                shown = repr(last)[:500]
                raise AssertionError(f"{what}: not within {timeout:g} s (last: {shown})")
            await asyncio.sleep(POLL_EVERY)

    # -- one-shot commands -----------------------------------------------------------------

    async def cli(
        self,
        *args: str,
        config: Path | None = None,
        timeout: float = 30,  # noqa: ASYNC109
    ) -> Completed:
        """Run `python -m monitor <args> --config <file>` to completion (async: the simulator
        and the sink keep answering meanwhile)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            *args,
            "--config",
            str(config or self.config_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=child_env(),
            cwd=self.workdir,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            command = " ".join(args)
            raise AssertionError(f"smartlead-monitor {command}: not within {timeout} s") from None
        assert process.returncode is not None
        return Completed(process.returncode, out.decode(), err.decode())

    async def once(self) -> Completed:
        """`smartlead-monitor once` on the same config and state file."""
        return await self.cli("once")


@contextlib.asynccontextmanager
async def open_harness(
    workdir: Path,
    *,
    accounts: int = 120,
    seed: int = 7,
    fleet: Fleet | None = None,
    notifiers: Sequence[Mapping[str, Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
    start: bool = True,
) -> AsyncIterator[Harness]:
    """Simulator, sink and (unless `start=False`) a running daemon; all stopped on exit.

    The default fleet has nothing failing; the default notifier is one `webhook` posting to
    `sink.url_for("/webhook")`. `notifiers` entries may use `{sink}` in their URL, replaced
    by the sink's base URL. `overrides` is merged into the generated config.
    """
    fleet = fleet if fleet is not None else Fleet(accounts, seed=seed, initial=QUIET_FLEET)
    async with (
        run_simulator(fleet, api_key=API_KEY) as simulator,
        WebhookSink() as sink,
        aiohttp.ClientSession() as session,
    ):
        chosen = notifiers if notifiers is not None else [webhook_notifier("{sink}" + WEBHOOK_PATH)]
        resolved = [
            {k: v.replace("{sink}", sink.url) if isinstance(v, str) else v for k, v in n.items()}
            for n in chosen
        ]
        config = monitor_config(
            simulator_url=simulator.url,
            listen_port=free_port(),
            state_path=workdir / "state" / "monitor.db",
            notifiers=resolved,
            overrides=overrides,
        )
        harness = Harness(workdir, simulator, sink, config, session)
        stamping = asyncio.create_task(_stamp_arrivals(sink, harness.arrivals))
        try:
            if start:
                await harness.start()
            yield harness
        finally:
            stamping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stamping
            if harness.process is not None and harness.process.returncode is None:
                harness.process.kill()
                await harness.process.wait()


async def _stamp_arrivals(sink: WebhookSink, stamps: list[float]) -> None:
    """Record when each request reached the sink (woken by the sink, not by polling)."""

    def more_than_stamped(got: list[Received]) -> bool:
        return len(got) > len(stamps)

    while True:
        seen = len(stamps)
        await sink.wait_for(more_than_stamped, within=24 * 3600)
        now = time.monotonic()
        stamps.extend([now] * (len(sink.received) - seen))
