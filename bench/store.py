"""How much the SQLite state store costs per account: commit, load and open at scale.

Run with `python -m bench.store [N ...]`; prints wall and CPU time (all threads) per account.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.core.model import PollKind
from monitor.smartlead.models import Account, WarmupDetails
from monitor.store import Cycle, PollStatus
from monitor.store.sqlite import SQLiteStore

SIZES = (10_000, 100_000)
ESPS = ("GMAIL", "OUTLOOK", "SMTP", "ZOHO")


def fleet(size: int, round_: int = 0) -> list[Account]:
    """A fleet with the field mix of real payloads; `round_` changes every account."""
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
    now = datetime.now(UTC)
    status = PollStatus("bench", PollKind.INVENTORY, now, True, 1.0, accounts=len(accounts))
    return Cycle("bench", status, accounts_upserted=accounts)


async def measure(label: str, size: int, step: Callable[[], Awaitable[object]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    await step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{label:<34} {size:>7} accounts  wall {wall * 1e3:8.1f} ms  "
        f"cpu {cpu * 1e3:8.1f} ms  = {cpu / size * 1e6:5.2f} µs cpu/account"
    )


async def run(size: int, folder: Path) -> None:
    path = folder / f"state-{size}.db"
    first, second = fleet(size), fleet(size, round_=1)
    changed = [replace(a, daily_sent_count=-1) for a in first[: size // 100]]
    store = await SQLiteStore.open(path)
    try:
        await measure("commit: all new", size, lambda: store.commit(cycle(first)))
        await measure("commit: all changed", size, lambda: store.commit(cycle(second)))
        await measure("commit: 1% changed", len(changed), lambda: store.commit(cycle(changed)))
        await measure("load", size, lambda: store.load("bench"))
    finally:
        await store.close()

    async def reopen() -> None:
        await (await SQLiteStore.open(path)).close()

    await measure("open (checks + quick_check)", size, reopen)
    print(f"{'file size':<34} {size:>7} accounts  {megabytes(folder, size):.1f} MB")


def megabytes(folder: Path, size: int) -> float:
    return sum(p.stat().st_size for p in folder.glob(f"state-{size}.db*")) / 1e6


def main(argv: list[str] | None = None) -> None:
    sizes = [int(arg) for arg in (argv if argv is not None else sys.argv[1:])] or SIZES
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            asyncio.run(run(size, Path(folder)))


if __name__ == "__main__":
    main()
