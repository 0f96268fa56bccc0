"""One cycle's whole judgement: snapshot, issue transitions and outbox messages, purely."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.config import Route, Silence
from monitor.core.lifecycle import Policy, Transition, evaluate
from monitor.core.model import PollOutcome, PollResult, iso
from monitor.core.routing import Message, Target, plan
from monitor.core.snapshot import SnapshotDiff, diff, merge
from monitor.smartlead.models import Account
from monitor.store import WorkspaceState


@dataclass(frozen=True, slots=True)
class Judgement:
    accounts: dict[int, Account]  # the snapshot afterwards
    changes: SnapshotDiff
    transition: Transition
    messages: list[Message]


def judge(
    state: WorkspaceState,
    outcome: PollOutcome,
    policy: Policy,
    targets: Sequence[Target],
    routes: Sequence[Route],
    silences: Sequence[Silence],
    stale: frozenset[int] = frozenset(),
) -> Judgement:
    """What a poll outcome changes, given the state committed before it. Reads, never writes."""
    accounts, changes = state.accounts, SnapshotDiff([], [])  # a failed poll changes neither
    if isinstance(outcome, PollResult):
        accounts = merge(state.accounts, outcome, stale)
        changes = diff(state.accounts, accounts)
    transition = evaluate(state.issues, outcome, policy, state.accounts, stale)
    messages = plan(
        transition.events,
        transition.issues.values(),
        targets,
        routes,
        silences,
        outcome.at,
        cycle=f"{outcome.workspace}|{outcome.poll}|{iso(outcome.at)}",
    )
    return Judgement(accounts, changes, transition, messages)
