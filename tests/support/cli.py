"""Running `clout` as a user does: a child process with the settings in its environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from app.core.settings import Settings
from app.devtools.worker_process import settings_env

COMMAND = (sys.executable, "-m", "app.cli")


def cli_env(settings: Settings) -> dict[str, str]:
    """This process's environment with `settings` as CLOUT_* and a wide terminal for tables."""
    return {**os.environ, **settings_env(settings), "COLUMNS": "200"}


async def clout(settings: Settings, *args: str, timeout_s: float = 120) -> tuple[int, str, str]:
    """Run `clout ARGS` with `settings`; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def clout_process(
    settings: Settings, *args: str, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `clout ARGS` with `settings` to its end (any exit code)."""
    return subprocess.run(
        [*COMMAND, *args], env=cli_env(settings), capture_output=True, text=True, timeout=timeout_s
    )


def run_clout(settings: Settings, *args: str, timeout_s: float = 600) -> str:
    """Run `clout ARGS` with `settings` to its end; its output (the test fails on non-zero exit)."""
    result = clout_process(settings, *args, timeout_s=timeout_s)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
