"""Listing 10,000 accounts at 20 requests/s: wall time against the rate bound, CPU, memory.

The simulator runs in a child process (`python -m monitor.smartlead.simulator`) with the same
limit the client keeps (20 requests/s; server burst 10, client burst 3), so the client's CPU
is measured alone and any 429 would show. Target (issue 2): wall time ≤ 1.05 x the bound
(100 pages / 20 rps = 5 s) plus one round trip. Run alone: `python -m bench.listing [N]`.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog

from monitor.smartlead.client import PAGE_SIZE, SmartLeadClient
from monitor.smartlead.models import decode_accounts

ACCOUNTS = 10_000
RATE = 20.0
CLIENT_BURST = 3
SERVER_BURST = 10
API_KEY = "bench-key"
PARSE_REPEAT = 30


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    limit: float | None = None

    @property
    def missed(self) -> bool:
        return self.limit is not None and self.value > self.limit

    def line(self) -> str:
        shown = f"{self.value:>10.3f}" if self.unit else f"{self.value:>10.0f}"
        text = f"  {self.name:<38} {shown} {self.unit}"
        if self.limit is not None:
            verdict = "MISSED" if self.missed else "ok"
            text = f"{text:<56} target ≤ {self.limit:.3f} {self.unit}  {verdict}"
        return text.rstrip()


async def start_simulator(accounts: int) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.smartlead.simulator", "--port", "0",
        "--accounts", str(accounts), "--seed", "1", "--api-key", API_KEY,
        "--rate-limit", str(RATE), "--burst", str(SERVER_BURST),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    return process, line.split(" on ", 1)[1].split()[0]


async def round_trip(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    """Median time to fetch one full page, with requests spaced to stay under the limit."""
    times, body = [], b""
    for _ in range(5):
        started = time.perf_counter()
        params = {"api_key": API_KEY, "limit": str(PAGE_SIZE)}
        async with session.get(url + "/api/v1/email-accounts/", params=params) as response:
            body = await response.read()
            assert response.status == 200, response.status
        times.append(time.perf_counter() - started)
        await asyncio.sleep(1 / RATE)
    return statistics.median(times), body


def parse_cpu_per_account(body: bytes) -> float:
    """CPU seconds to decode one account as the client does, from a real page body."""
    started = time.process_time()
    for _ in range(PARSE_REPEAT):
        decode_accounts(body)
    return (time.process_time() - started) / (PARSE_REPEAT * PAGE_SIZE)


def peak_rss_mib(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(accounts: int) -> list[Figure]:
    process, url = await start_simulator(accounts)
    try:
        async with aiohttp.ClientSession() as session:
            rtt, page = await round_trip(session, url)
            codes: Counter[str] = Counter()
            client = SmartLeadClient(
                session,
                workspace="bench",
                api_key=API_KEY,
                base_url=url,
                rate_limit=RATE,
                burst=CLIENT_BURST,
                on_response=lambda _, code: codes.update([code]),
            )
            bound = accounts / PAGE_SIZE / RATE
            figures = [Figure("bound: pages / rate", bound, "s")]
            rss_before = peak_rss_mib()
            for run in ("cold", "warm"):
                await asyncio.sleep(SERVER_BURST / RATE)  # both buckets full again
                wall, cpu = time.perf_counter(), time.process_time()
                listing = await client.list_accounts()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if len(listing.accounts) != accounts:
                    raise SystemExit(f"listed {len(listing.accounts)} of {accounts} accounts")
                figures += [
                    Figure(f"wall time, {run} simulator", wall, "s", 1.05 * bound + rtt),
                    Figure(f"client CPU per account, {run}", cpu / accounts * 1e6, "µs"),
                ]
            figures += [
                Figure("requests per listing", listing.requests, ""),
                Figure("429 answers", codes["429"], "", 0),
                Figure("round trip (one full page)", rtt * 1000, "ms"),
                Figure("decode only per account", parse_cpu_per_account(page) * 1e6, "µs"),
                Figure("client peak RSS before listing", rss_before, "MiB"),
                Figure("client peak RSS", peak_rss_mib(), "MiB"),
                Figure("simulator peak RSS", peak_rss_mib(process.pid), "MiB"),
            ]  # fmt: skip
            return figures
    finally:
        process.terminate()
        await process.wait()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    accounts = int(args[0]) if args else ACCOUNTS
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(
        f"  {accounts:,} accounts, {RATE:g} requests/s (client burst {CLIENT_BURST},"
        f" simulator burst {SERVER_BURST}), simulator in a child process",
        flush=True,
    )
    figures = asyncio.run(measure(accounts))
    for figure in figures:
        print(figure.line(), flush=True)
    return 1 if any(figure.missed for figure in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
