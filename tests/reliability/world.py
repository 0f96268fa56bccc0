"""Ground truth for fault-injection runs, and the checks that notifications told it faithfully.

The test changes the simulated fleet only through `World`, which records, for every
(account, kind), whether it was ever failing and ever healthy during the run. Notifications
are then judged against that record: nothing false (no fire for a key that never failed, no
resolve for one that never healed), nothing repeated (per key, firing and resolved alternate
once duplicates of the same event id are removed), nothing missed (at the end, what the
receiver last heard about each key is what the fleet shows).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.smartlead.simulator import Fleet, Mailbox

ACCOUNT_KINDS = ("smtp_failed", "imap_failed", "warmup_blocked", "reputation_low")
CONDITIONS = ("smtp", "imap", "blocked", "reputation")
LOW_REPUTATION, GOOD_REPUTATION = 55.0, 95.0  # percent, either side of the default 80

Key = tuple[int | None, str]  # (account id or None for workspace-level kinds, kind)


def failing_kinds(box: Mailbox) -> set[str]:
    """The issue kinds the product contract says this mailbox has right now (default settings)."""
    kinds: set[str] = set()
    if not box.smtp_ok:
        kinds.add("smtp_failed")
    if not box.imap_ok:
        kinds.add("imap_failed")
    if box.blocked:
        kinds.add("warmup_blocked")
    if box.warmup_status == "ACTIVE" and box.reputation_low:
        kinds.add("reputation_low")
    return kinds


@dataclass
class World:
    """The fleet plus the record of every state each (account, kind) was in during the run."""

    fleet: Fleet
    rng: random.Random
    ever_failing: set[Key] = field(default_factory=set)
    ever_healthy: set[Key] = field(default_factory=set)
    changes: int = 0

    def __post_init__(self) -> None:
        self.observe()

    def begin(self) -> None:
        """Forget the record and start it from the fleet as it is now (before the daemon runs),
        so a mailbox the test broke during set-up counts as never healthy."""
        self.ever_failing.clear()
        self.ever_healthy.clear()
        self.observe()

    def observe(self) -> None:
        """Record the fleet as it is now; call after every change made behind World's back."""
        for box in self.fleet:
            failing = failing_kinds(box)
            for kind in ACCOUNT_KINDS:
                (self.ever_failing if kind in failing else self.ever_healthy).add((box.id, kind))

    def failing_now(self) -> set[Key]:
        return {(box.id, kind) for box in self.fleet for kind in failing_kinds(box)}

    def set_failing(self, account_id: int, condition: str, failing: bool) -> None:
        """Put one condition of one mailbox into the given state."""
        fleet = self.fleet
        if condition == "smtp":
            fleet.set_smtp(account_id, ok=not failing)
        elif condition == "imap":
            fleet.set_imap(account_id, ok=not failing)
        elif condition == "blocked":
            fleet.set_warmup_status(account_id, "ACTIVE")
            fleet.set_blocked(account_id, failing)
        else:
            fleet.set_warmup_status(account_id, "ACTIVE")
            percent = LOW_REPUTATION if failing else GOOD_REPUTATION
            fleet.set_reputation(account_id, percent, "percent")
        self.changes += 1
        self.observe()

    def flip(self, accounts: Sequence[int], count: int) -> None:
        """Flip `count` random conditions of random mailboxes among `accounts` (seeded)."""
        for _ in range(count):
            account_id = self.rng.choice(accounts)
            condition = self.rng.choice(CONDITIONS)
            box = self.fleet.mailbox(account_id)
            failing = {
                "smtp": not box.smtp_ok,
                "imap": not box.imap_ok,
                "blocked": box.blocked,
                "reputation": box.warmup_status == "ACTIVE" and box.reputation_low,
            }[condition]
            self.set_failing(account_id, condition, not failing)

    def tick(self) -> int:
        """One step of the fleet's own churn (Fleet.tick), recorded."""
        changed = len(self.fleet.tick())
        self.changes += changed
        self.observe()
        return changed


def event_key(event: Mapping[str, Any]) -> Key:
    account = event.get("account")
    return (account["id"] if account else None, str(event["kind"]))


@dataclass(frozen=True)
class Heard:
    """What a receiver heard, duplicates folded: each event id once, in order of first arrival."""

    events: list[dict[str, Any]]  # first copy of each id
    copies: Counter[str]  # how many times each id arrived
    conflicts: list[str]  # ids that arrived twice with different content

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.copies.values())

    def by_key(self) -> dict[Key, list[dict[str, Any]]]:
        keyed: dict[Key, list[dict[str, Any]]] = {}
        for event in self.events:
            if not event.get("reminder"):
                keyed.setdefault(event_key(event), []).append(event)
        return keyed

    def last_status(self) -> dict[Key, str]:
        return {key: events[-1]["status"] for key, events in self.by_key().items()}


def heard(received: Iterable[Mapping[str, Any]]) -> Heard:
    first: dict[str, dict[str, Any]] = {}
    copies: Counter[str] = Counter()
    conflicts: list[str] = []
    for event in received:
        event_id = str(event["id"])
        copies[event_id] += 1
        if event_id not in first:
            first[event_id] = dict(event)
        elif first[event_id] != dict(event) and event_id not in conflicts:
            conflicts.append(event_id)
    return Heard(list(first.values()), copies, conflicts)


def false_or_repeated(got: Heard, world: World) -> list[str]:
    """Every notification that should not exist: conflicting copies, re-alerts, resolves
    without a firing, fires for keys that never failed, resolves for keys that never healed."""
    problems = [f"event id {i} arrived twice with different content" for i in got.conflicts]
    for key, events in got.by_key().items():
        statuses = [e["status"] for e in events]
        for position, status in enumerate(statuses):
            expected = "firing" if position % 2 == 0 else "resolved"
            if status != expected:
                problems.append(f"{key}: {status} where {expected} was due, in {statuses}")
                break
        if key[0] is None:
            continue  # workspace-level kinds are judged by each scenario
        if "firing" in statuses and key not in world.ever_failing:
            problems.append(f"{key}: fired but the fleet never showed it failing")
        if "resolved" in statuses and key not in world.ever_healthy:
            problems.append(f"{key}: resolved but the fleet never showed it healthy")
    return problems


def missed(got: Heard, world: World, open_issues: set[Key]) -> list[str]:
    """Once everything settled: the daemon's open issues and the receiver's last word per key
    must both match the fleet."""
    failing = world.failing_now()
    problems: list[str] = []
    account_open = {key for key in open_issues if key[0] is not None}
    if account_open != failing:
        problems.append(
            f"open issues differ from the fleet: not open {sorted(failing - account_open)[:10]},"
            f" open but healthy {sorted(account_open - failing)[:10]}"
        )
    last = got.last_status()
    for key in sorted(failing, key=str):
        if last.get(key) != "firing":
            problems.append(f"{key} is failing but the receiver last heard {last.get(key)}")
    for key, status in last.items():
        if key[0] is not None and status == "firing" and key not in failing:
            problems.append(f"{key} healed but the receiver last heard firing")
    return problems


def settled(got: Heard, world: World, open_issues: set[Key]) -> bool:
    return not missed(got, world, open_issues)
