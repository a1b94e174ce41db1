"""Run `clout` subcommands as a child process with a test's settings."""

from __future__ import annotations

import os
import subprocess
import sys

from app.devtools.worker_process import settings_env
from app.settings import Settings


def run_clout(settings: Settings, *args: str) -> str:
    """Run a `clout` subcommand with these settings; return its output (fails on non-zero exit)."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
