"""`smartlead-monitor demo`: the zero-setup showcase shows issues opening and resolving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(90)
def test_demo_shows_issues_opening_and_resolving_within_a_minute(tmp_path: Path) -> None:
    """The demo prints firing and resolved events within 60 s and stops cleanly on Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK", "WEBHOOK", "ALERT"))}
    output = tmp_path / "demo.out"
    with output.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", "--port", str(free_port())],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            text = ""
            while time.monotonic() < deadline:
                text = output.read_text(errors="replace")
                shown = "status=firing" in text and "status=resolved" in text
                if shown or demo.poll() is not None:
                    break
                time.sleep(0.25)  # polling the output until a deadline, not waiting out time
            assert "status=firing" in text, text[-2000:]
            assert "status=resolved" in text, text[-2000:]
            assert "/api/v1/issues" in text  # it tells the user what to open
            demo.send_signal(signal.SIGINT)
            assert demo.wait(timeout=10) == 0
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
