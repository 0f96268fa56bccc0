"""Fixtures for notifier tests: one HTTP session, loopback sinks, a real Alertmanager."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from .sink import MakeSink, WebhookSink

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def make_sink() -> AsyncIterator[MakeSink]:
    """Start as many sinks as a test needs; every one is closed afterwards."""
    sinks: list[WebhookSink] = []

    async def start() -> WebhookSink:
        sink = await WebhookSink().start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        await sink.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def alertmanager(
    tmp_path: Path, make_sink: MakeSink
) -> AsyncIterator[tuple[str, WebhookSink]]:
    """A real Alertmanager on loopback (gossip off) whose only receiver is a webhook sink.

    Yields (Alertmanager base URL, sink); the process is killed afterwards.
    """
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (make system-deps)")
    sink = await make_sink()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: sink
  group_by: [alertname, workspace, account_id]
  group_wait: 200ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: {sink.url_for("/alertmanager")}
        send_resolved: true
"""
    )
    port = free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("w") as log_file:
        process = await asyncio.create_subprocess_exec(
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(base, process, log)
            yield base, sink
        finally:
            process.kill()
            await process.wait()


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Poll /-/ready until it answers 200, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    async with aiohttp.ClientSession() as client:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"alertmanager exited: {_read(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with client.get(f"{base}/-/ready") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError(f"alertmanager not ready after 10s: {_read(log)}")


def _read(log: Path) -> str:
    return log.read_text()
