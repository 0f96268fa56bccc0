"""Soak (`make soak`, not CI): thousands of compressed poll cycles against a churning fleet.

The daemon's resident memory, open file descriptors and SQLite files (main file, -wal, -shm)
are sampled from /proc and the file system; after a warm-up they must stay flat, and every
event of the run must still be told faithfully. `SOAK_SECONDS` sets the length (default 360).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.smartlead.simulator import InitialMix

from .conftest import MakeRig

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "360"))
FAILURE_INTERVAL = 0.2  # seconds: one fleet tick per failure poll
INVENTORY_INTERVAL = 1.0
SAMPLE_EVERY = 5.0  # seconds
WARM_UP = 0.25  # share of the run before the baseline is taken

pytestmark = [pytest.mark.soak, pytest.mark.e2e, pytest.mark.timeout(SOAK_SECONDS + 300)]


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since start
    rss_kib: int
    fds: int
    state_bytes: int  # main file + -wal + -shm


def sample(pid: int, state: Path, at: float) -> Sample:
    """RSS from /proc/<pid>/status, fds from /proc/<pid>/fd, size of every state file."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    size = sum(p.stat().st_size for p in state.parent.glob(state.name + "*"))
    return Sample(at, rss, fds, size)


def grew(samples: list[Sample], field: str) -> tuple[float, float]:
    """(median after warm-up in the first half, median of the last quarter) of one figure."""
    end = samples[-1].at
    early = [getattr(s, field) for s in samples if WARM_UP * end <= s.at <= 0.5 * end]
    late = [getattr(s, field) for s in samples if s.at >= 0.75 * end]
    return float(statistics.median(early)), float(statistics.median(late))


def table(samples: list[Sample]) -> str:
    rows = [f"{'t (s)':>7} {'RSS (MiB)':>10} {'fds':>5} {'state (KiB)':>12}"]
    step = max(1, len(samples) // 12)
    for s in [*samples[::step], samples[-1]]:
        rows.append(f"{s.at:7.0f} {s.rss_kib / 1024:10.1f} {s.fds:5d} {s.state_bytes / 1024:12.0f}")
    return "\n".join(rows)


async def test_soak_memory_fds_and_state_stay_flat(make_rig: MakeRig, figures: list[str]) -> None:
    """Thousands of 0.2 s cycles on a churning fleet: RSS, fds and state files stay flat."""
    rig = await make_rig(
        accounts=500,
        seed=41,
        initial=InitialMix(),
        overrides={
            "polling": {
                "failure_interval": FAILURE_INTERVAL,
                "inventory_interval": INVENTORY_INTERVAL,
            },
            "issues": {"repeat_interval": 30},
        },
        start=False,
    )
    rig.world.begin()
    await rig.h.start()
    await rig.h.wait_ready()
    assert rig.h.process is not None
    pid, state = rig.h.process.pid, rig.h.state_path
    started = time.monotonic()
    samples: list[Sample] = []
    next_sample = 0.0
    while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
        rig.world.tick()
        if elapsed >= next_sample:
            samples.append(sample(pid, state, elapsed))
            next_sample += SAMPLE_EVERY
        await asyncio.sleep(FAILURE_INTERVAL)
    samples.append(sample(pid, state, time.monotonic() - started))
    got = await rig.settle(timeout=120)
    polls = rig.h.polls()
    failure = sum(1 for p in polls if p["poll"] == "failure")
    inventory = len(polls) - failure

    rss, fds, size = grew(samples, "rss_kib"), grew(samples, "fds"), grew(samples, "state_bytes")
    figures.append(
        f"soak: {SOAK_SECONDS:.0f} s, {failure} failure + {inventory} inventory polls,"
        f" {rig.world.changes} fleet changes, {len(got.events)} events"
        f" ({got.duplicates} duplicate copies), {len(rig.sink.received)} deliveries\n"
        f"RSS median {rss[0] / 1024:.1f} -> {rss[1] / 1024:.1f} MiB, fds {fds[0]:.0f} -> "
        f"{fds[1]:.0f}, state files {size[0] / 1024:.0f} -> {size[1] / 1024:.0f} KiB\n"
        + table(samples)
    )
    rig.assert_faithful(got)
    expected = SOAK_SECONDS * (1 / FAILURE_INTERVAL + 1 / INVENTORY_INTERVAL)
    assert failure + inventory >= 0.7 * expected, (failure, inventory)
    assert rss[1] <= rss[0] * 1.05 + 4096, f"RSS grew {rss}"
    assert fds[1] <= fds[0] + 2, f"open fds grew {fds}"
    assert size[1] <= size[0] * 1.25 + 1024 * 1024, f"state files grew {size}"
    code, _ = await rig.h.stop()
    assert code == 0
