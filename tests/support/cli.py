"""Run `clout` as a user does: a child process with a test's settings in its environment."""

from __future__ import annotations

import asyncio
import os
import sys

from app.devtools.worker_process import settings_env
from app.settings import Settings


async def run_clout(
    settings: Settings, *args: str, timeout_s: float = 60.0
) -> tuple[int, str, str]:
    """`clout ARGS` under `settings`; (exit code, stdout, stderr)."""
    env = {**os.environ, **settings_env(settings), "COLUMNS": "160"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
