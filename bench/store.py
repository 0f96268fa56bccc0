"""SQLite state store: CPU per account to commit and load a snapshot of 10,000 and 100,000.

Target (issue 3's budget share for persisting): committing changed accounts costs at most
4 µs of CPU per account. CPU is process time (the store's worker thread included), the best
of three rounds, so other load on the machine inflates it less. Run alone:
`python -m bench.store [N ...]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.core.model import PollKind
from monitor.smartlead.models import Account, WarmupDetails
from monitor.store import Cycle, PollStatus
from monitor.store.sqlite import SQLiteStore

SIZES = (10_000, 100_000)
ROUNDS = 3
COMMIT_TARGET = 4.0  # µs of CPU per changed account
ESPS = ("GMAIL", "OUTLOOK", "SMTP", "ZOHO")


def fleet(size: int, round_: int = 0) -> list[Account]:
    """A fleet with the field mix of real payloads; each `round_` changes every account."""
    return [
        Account(
            id=1_000_000 + i,
            email=f"sender{i}@client{i % 97}.example",
            from_name=f"Sender {i}",
            esp=ESPS[i % 4],
            client_id=None if i % 5 == 0 else i % 97,
            is_smtp_success=i % 50 != 0,
            smtp_failure_error="535 Authentication failed" if i % 50 == 0 else None,
            is_imap_success=True,
            imap_failure_error=None,
            daily_sent_count=(i + round_) % 40,
            message_per_day=40,
            warmup=None
            if i % 10 == 0
            else WarmupDetails("ACTIVE", (70 + (i + round_) % 31) / 100, False, None),
        )
        for i in range(size)
    ]


def cycle(accounts: list[Account]) -> Cycle:
    status = PollStatus("bench", PollKind.INVENTORY, datetime.now(UTC), True, 1.0)
    return Cycle("bench", status, accounts_upserted=accounts)


async def best_cpu(step: Callable[[int], Awaitable[object]], rounds: int = ROUNDS) -> float:
    """Lowest process CPU seconds of `rounds` runs of `step(round)`."""
    best = float("inf")
    for round_ in range(rounds):
        started = time.process_time()
        await step(round_)
        best = min(best, time.process_time() - started)
    return best


def line(label: str, size: int, cpu: float, target: float | None = None) -> str:
    per_account = cpu / size * 1e6
    text = f"{label:<28} {size:>7} accounts  {cpu * 1e3:8.1f} ms cpu  {per_account:5.2f} µs/account"
    if target is not None:
        text += f"  target ≤ {target:.1f}  {'ok' if per_account <= target else 'MISSED'}"
    return text


async def run(size: int, folder: Path) -> bool:
    """Print the figures of one fleet size; False when the commit target was missed."""
    path = folder / f"state-{size}.db"
    fleets = [fleet(size, round_) for round_ in range(ROUNDS + 1)]
    store = await SQLiteStore.open(path)
    try:
        first = await best_cpu(lambda _: store.commit(cycle(fleets[0])), rounds=1)
        changed = await best_cpu(lambda r: store.commit(cycle(fleets[r + 1])))
        load = await best_cpu(lambda _: store.load("bench"))
    finally:
        await store.close()

    async def reopen(_: int) -> None:
        await (await SQLiteStore.open(path)).close()

    opened = await best_cpu(reopen)
    print(line("commit, all accounts new", size, first))
    print(line("commit, all accounts changed", size, changed, COMMIT_TARGET))
    print(line("load", size, load))
    print(line("open (checks, quick_check)", size, opened))
    print(f"{'file size':<28} {size:>7} accounts  {megabytes(folder, size):8.1f} MB")
    return changed / size * 1e6 <= COMMIT_TARGET


def megabytes(folder: Path, size: int) -> float:
    return sum(p.stat().st_size for p in folder.glob(f"state-{size}.db*")) / 1e6


def main(argv: list[str] | None = None) -> int:
    sizes = [int(arg) for arg in (argv if argv is not None else sys.argv[1:])] or SIZES
    with tempfile.TemporaryDirectory() as folder:
        met = [asyncio.run(run(size, Path(folder))) for size in sizes]
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
