"""The engine: runs one cycle (poll, judge, commit, tell) and keeps the in-memory view.

A cycle's decisions come from the pure core; this module only sequences I/O around them.
State in memory changes only after the store committed, so a crash or a cancelled cycle
leaves memory and disk telling the same story.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from monitor.config import Settings
from monitor.core.cycle import Judgement, judge
from monitor.core.lifecycle import Policy
from monitor.core.model import Issue, IssueKind, PollKind, PollOutcome, PollResult
from monitor.core.routing import Target, silenced
from monitor.memory import FreeLists, release_free_memory
from monitor.metrics import MetricsExposition, SelfMetrics, render_workspace
from monitor.polls import AccountsApi, run_poll
from monitor.store import Cycle, OutboxMessage, PollStatus, Store, WorkspaceState

log = structlog.get_logger("monitor.engine")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def policy_of(settings: Settings) -> Policy:
    """The lifecycle's policy from the settings; firing time steps are capped at two polls."""
    issues = settings.issues
    return Policy(
        thresholds={kind: issues.thresholds(kind) for kind in IssueKind},
        repeat_interval=issues.repeat_interval,
        reputation_low=issues.reputation_low / 100.0,
        max_step=2 * settings.polling.failure_interval,
    )


@dataclass
class Workspace:
    """One workspace's committed state, and what lets its two polls overlap safely.

    A long inventory can be overtaken by a failure poll. Every poll takes a ticket when it
    starts; a commit records, per account it saw, the newest ticket that saw it. A poll
    treats its rows of an account as stale when a poll that started later already committed
    that account.
    """

    name: str
    api: AccountsApi
    state: WorkspaceState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    tickets: int = 0
    touched: dict[int, int] = field(default_factory=dict)  # account id -> newest ticket
    running: int = 0  # polls in flight

    def ticket(self) -> int:
        self.tickets += 1
        return self.tickets

    def stale_for(self, ticket: int) -> frozenset[int]:
        return frozenset(a for a, t in self.touched.items() if t > ticket)

    def record(self, accounts: Iterable[int], ticket: int) -> None:
        touched = self.touched
        for account_id in accounts:
            if touched.get(account_id, 0) < ticket:
                touched[account_id] = ticket


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        apis: Mapping[str, AccountsApi],
        targets: Sequence[Target],
        metrics: SelfMetrics,
        exposition: MetricsExposition,
        *,
        clock: Clock = utcnow,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.policy = policy_of(settings)
        self.targets = list(targets)
        self.metrics = metrics
        self.exposition = exposition
        self.clock = clock
        self.on_commit = on_commit
        self.workspaces = {
            name: Workspace(name, api, WorkspaceState()) for name, api in apis.items()
        }
        self.free_lists = FreeLists(time.monotonic())

    async def load(self) -> None:
        """Read the last committed state of every workspace (a restart forgets nothing)."""
        for workspace in self.workspaces.values():
            workspace.state = await self.store.load(workspace.name)
            for status in workspace.state.polls.values():
                self.metrics.restore_poll(status)
            self.render(workspace.name)
        await self.refresh_outbox_gauge()

    @property
    def states(self) -> dict[str, WorkspaceState]:
        return {name: ws.state for name, ws in self.workspaces.items()}

    def render(self, name: str) -> None:
        """Re-render one workspace's fleet metrics: once per cycle, never per scrape.

        The old samples go first, so the two renders never take memory at once; nothing is
        served in between, as this runs on the event loop without awaiting.
        """
        self.exposition.forget(name)
        samples = render_workspace(
            name,
            self.workspaces[name].state,
            per_account=self.settings.metrics.per_account,
            reputation_low=self.policy.reputation_low,
        )
        self.exposition.update_workspace(name, samples)

    async def refresh_outbox_gauge(self) -> None:
        self.metrics.set_outbox_pending(await self.store.pending_counts())

    def is_silenced(self, issue: Issue) -> bool:
        return silenced(self.settings.silences, issue.key, issue.account, self.clock())

    async def cycle(self, name: str, poll: PollKind) -> PollOutcome:
        """Poll one workspace, judge the outcome, commit, then let the outbox deliver."""
        workspace = self.workspaces[name]
        started, ticket = time.monotonic(), workspace.ticket()
        workspace.running += 1
        try:
            state = workspace.state
            outcome = await run_poll(
                workspace.api, name, poll, state.issues, self.clock(), state.accounts
            )
            async with workspace.lock:
                committed = await self._commit(workspace, outcome, ticket, started)
        finally:
            workspace.running -= 1
            if not workspace.running:
                workspace.touched.clear()
        status, verdict = committed
        transition, messages, changes = verdict.transition, verdict.messages, verdict.changes
        self.metrics.observe_poll(status)
        self.metrics.count_events(transition.events)
        self.render(name)
        self.free_lists.empty_if_due(time.monotonic())  # first: trimming returns what it freed
        release_free_memory()
        await self.refresh_outbox_gauge()
        if messages:
            self.on_commit()
        log.info(
            "poll",
            workspace=name,
            poll=str(poll),
            outcome="ok" if status.ok else "failed",
            pages=outcome.pages,
            requests=outcome.requests,
            accounts=status.accounts,
            changed=len(changes.upserted) + len(changes.removed),
            events=len(transition.events),
            messages=len(messages),
            duration_ms=round(status.duration * 1000),
            error=status.error,
        )
        return outcome

    async def _commit(
        self, workspace: Workspace, outcome: PollOutcome, ticket: int, started: float
    ) -> tuple[PollStatus, Judgement]:
        """Judge the outcome against the state committed now, and commit it atomically.

        The judgement is pure and reads only immutable data, so it runs in a worker thread:
        at 100,000 accounts the event loop keeps answering /healthz meanwhile.
        """
        state, name = workspace.state, workspace.name
        ok = isinstance(outcome, PollResult)
        stale = workspace.stale_for(ticket) if ok else frozenset[int]()
        routes, silences = self.settings.routes, self.settings.silences
        verdict = await asyncio.to_thread(
            judge, state, outcome, self.policy, self.targets, routes, silences, stale
        )
        previous = state.polls.get(outcome.poll)
        status = PollStatus(
            workspace=name,
            poll=outcome.poll,
            at=outcome.at,
            ok=ok,
            duration=time.monotonic() - started,
            error=None if isinstance(outcome, PollResult) else outcome.error,
            last_success_at=outcome.at if ok else previous.last_success_at if previous else None,
            accounts=len(verdict.accounts),
        )
        await self.store.commit(
            Cycle(
                workspace=name,
                poll_status=status,
                accounts_upserted=verdict.changes.upserted,
                accounts_removed=verdict.changes.removed,
                issues_upserted=verdict.transition.upserted,
                issues_removed=verdict.transition.removed,
                outbox=[
                    OutboxMessage(m.id, m.notifier, outcome.at, m.events) for m in verdict.messages
                ],
            )
        )
        state.accounts = verdict.accounts
        state.issues = verdict.transition.issues
        state.polls[outcome.poll] = status
        # What this poll saw is newer than any row of a poll still running. Only rows count:
        # every commit also upserts firing issues (their clocks tick), which says nothing new.
        workspace.record(_seen(outcome), ticket)
        return status, verdict


def _seen(outcome: PollOutcome) -> set[int]:
    if not isinstance(outcome, PollResult):
        return set()
    return {*outcome.rows, *outcome.confirmed}
