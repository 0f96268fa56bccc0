"""Wiring and lifecycle: the one place that starts and stops every moving part.

One aiohttp session, one store, one engine, the scheduler (two jobs per workspace), the
outbox delivery loop and the HTTP server are opened here in order and closed in reverse.
Shutdown is bounded (SHUTDOWN_SECONDS) so it fits Kubernetes' grace period.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import __version__
from monitor.config import Settings
from monitor.core.model import PollKind, PollOutcome, PollResult
from monitor.core.routing import Target
from monitor.engine import Clock, Engine, utcnow
from monitor.http import create_app, issues_json, readiness, status_json
from monitor.metrics import MetricsExposition, SelfMetrics
from monitor.notify import Notifier
from monitor.notify.factory import build_notifiers, reposts_open_issues
from monitor.notify.outbox import OutboxDelivery
from monitor.packed import Part
from monitor.smartlead.client import SmartLeadClient
from monitor.store.sqlite import SQLiteStore

log = structlog.get_logger("monitor.daemon")

SHUTDOWN_SECONDS = 10.0  # contract §2; terminationGracePeriodSeconds in deploy/ is above it
# The shutdown budget: cycle 4 s + its cancellation 1 s + deliveries 2 s + HTTP 1 s < 10 s.
CYCLE_GRACE_SECONDS = 4.0  # an in-flight cycle may finish within this, then it is abandoned
DELIVERY_GRACE_SECONDS = 2.0  # a send still running then is abandoned; its message stays
START_JITTER_SECONDS = 5.0  # spreads the first failure polls of many workspaces


class StartupError(Exception):
    """The daemon cannot start (for example its listen address is taken)."""


class Monitor:
    """Everything the daemon runs, built from settings; also the HTTP endpoints' view."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        notifiers: list[Notifier],
        outbox: OutboxDelivery,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.notifiers = notifiers
        self.outbox = outbox
        self.clock = engine.clock
        self.scheduler: AsyncIOScheduler | None = None
        self.inflight: set[asyncio.Task[Any]] = set()
        self.failures = 0  # cycles that failed (poll or internal error), for `once`

    # --- HttpView ---------------------------------------------------------------------
    def alive(self) -> bool:
        return self.scheduler is None or bool(self.scheduler.running)

    def readiness(self) -> tuple[bool, dict[str, object]]:
        return readiness(self.engine.states, self.clock(), self.settings.polling.failure_interval)

    def metrics(self, gzip: bool) -> Sequence[Part]:
        exposition = self.engine.exposition
        return exposition.gzip_parts() if gzip else exposition.parts()

    def issues(self) -> list[dict[str, object]]:
        return issues_json(self.engine.states, self.engine.is_silenced)

    def status(self) -> dict[str, object]:
        return status_json(self.engine.states, self.engine.metrics.outbox_pending, self.clock())

    # --- cycles -----------------------------------------------------------------------
    async def run_cycle(self, workspace: str, poll: PollKind) -> PollOutcome | None:
        """One guarded cycle: a bug or a store error is logged, never fatal to the daemon."""
        task = asyncio.current_task()
        if task is not None:
            self.inflight.add(task)
        try:
            outcome = await self.engine.cycle(workspace, poll)
        except asyncio.CancelledError:
            # Only shutdown cancels a cycle; its state was not committed, nothing is lost.
            log.warning("cycle_abandoned", workspace=workspace, poll=str(poll))
            return None
        except Exception as error:
            self.failures += 1
            log.error("cycle_failed", workspace=workspace, poll=str(poll), error=str(error))
            return None
        finally:
            if task is not None:
                self.inflight.discard(task)
        if not isinstance(outcome, PollResult):
            self.failures += 1
        return outcome

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        """Two jobs per workspace; never overlapping, missed runs coalesced into one."""
        polling = self.settings.polling
        now = self.clock()
        for name in self.engine.workspaces:
            jitter = timedelta(seconds=random.uniform(0, min(START_JITTER_SECONDS, 1.0)))
            for poll, interval, first in (
                (PollKind.INVENTORY, polling.inventory_interval, now),
                (PollKind.FAILURE, polling.failure_interval, now + jitter),
            ):
                scheduler.add_job(
                    self.run_cycle,
                    "interval",
                    seconds=interval,
                    args=[name, poll],
                    id=f"{name}:{poll}",
                    next_run_time=first,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(interval)),
                )
        self.scheduler = scheduler

    async def finish_inflight(self, grace: float) -> None:
        """Let running cycles finish within `grace` seconds, then cancel them."""
        if not self.inflight:
            return
        _, pending = await asyncio.wait(set(self.inflight), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)


@asynccontextmanager
async def open_monitor(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    extra_notifiers: list[Notifier] | None = None,
) -> AsyncIterator[Monitor]:
    """Open session, store, notifiers and engine; close them all in reverse on exit."""
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        store = await SQLiteStore.open(settings.state.path)
        stack.push_async_callback(store.close)
        polling = settings.polling
        workspaces = [ws.name for ws in settings.workspaces]
        notifiers: list[Notifier] = [
            *build_notifiers(
                settings.notifiers,
                session,
                generator_url=_generator_url(settings),
                ends_in=timedelta(seconds=3 * polling.failure_interval),
            ),
            *(extra_notifiers or []),
        ]
        metrics = SelfMetrics(workspaces, [n.name for n in notifiers], __version__)
        exposition = MetricsExposition(metrics)
        apis = {
            ws.name: SmartLeadClient.for_workspace(session, ws, polling, metrics.count_request)
            for ws in settings.workspaces
        }
        targets = [Target(n.name, reposts_open_issues(n)) for n in notifiers]
        outbox = OutboxDelivery(store, notifiers, clock=clock, on_result=_counting(metrics))
        engine = Engine(
            settings, store, apis, targets, metrics, exposition, clock=clock, on_commit=outbox.wake
        )
        await engine.load()
        yield Monitor(settings, engine, notifiers, outbox)


def _counting(metrics: SelfMetrics) -> Callable[[str, str], None]:
    """Count a delivery result; a message that left the outbox leaves the pending gauge."""

    def on_result(notifier: str, result: str) -> None:
        metrics.count_notification(notifier, result)
        if result in ("sent", "dropped"):
            pending = metrics.outbox_pending
            pending[notifier] = max(0, pending.get(notifier, 0) - 1)
            metrics.set_outbox_pending(pending)

    return on_result


def _generator_url(settings: Settings) -> str:
    base = settings.http.external_url or f"http://{settings.http.listen}"
    return base.rstrip("/") + "/api/v1/issues"


async def serve(monitor: Monitor, stop: asyncio.Event) -> None:
    """The `run` command: schedule polls, serve HTTP, deliver; return after `stop` is set."""
    settings = monitor.settings
    runner = web.AppRunner(create_app(monitor, settings.http.auth), access_log=None)
    await runner.setup()
    host, port = settings.http.host, settings.http.port
    site = web.TCPSite(runner, host, port, shutdown_timeout=1.0)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    scheduler = AsyncIOScheduler(timezone="UTC")
    monitor.schedule(scheduler)
    scheduler.start()
    delivery = asyncio.create_task(monitor.outbox.run(), name="outbox")
    log.info(
        "started",
        version=__version__,
        listen=f"{host}:{port}",
        workspaces=list(monitor.engine.workspaces),
        notifiers=[n.name for n in monitor.notifiers],
    )
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        scheduler.pause()
        await monitor.finish_inflight(CYCLE_GRACE_SECONDS)
        scheduler.shutdown(wait=False)
        await monitor.outbox.stop(grace=DELIVERY_GRACE_SECONDS)
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        await runner.cleanup()
        log.info("stopped")


async def run_once(monitor: Monitor) -> bool:
    """The `once` command: inventory and failure poll of every workspace, then deliver."""
    for name in monitor.engine.workspaces:
        for poll in (PollKind.INVENTORY, PollKind.FAILURE):
            await monitor.run_cycle(name, poll)
    await monitor.outbox.deliver_due(monitor.clock())
    pending = await monitor.engine.store.pending_counts()
    await monitor.engine.refresh_outbox_gauge()
    return monitor.failures == 0 and not any(pending.values())
