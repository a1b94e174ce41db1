"""Stopping as supervisors do: `make run` (scripts/run.py) stops every child on SIGTERM and
SIGHUP as on Ctrl-C, and the worker and the API it runs exit cleanly (0, no traceback) on the
SIGTERM it forwards. Real processes on the real broker and Redis; names isolated per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import free_port, isolated
from app.store import ScoreClient
from app.store.cleanup import delete_prefix
from tests.support.waiting import eventually
from tests.support.worker import settings_env, wait_until_consuming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


def start_make_run(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """What `make run` runs after `make stack-up`, with `settings` in its environment."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "scripts/run.py"],
            cwd=ROOT,
            env={**os.environ, **settings_env(settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_make_run_stops_all_its_children_and_they_exit_cleanly(
    stack: Settings, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    settings = isolated(
        stack,
        api_port=free_port(),
        worker_metrics_port=0,
        data_dir=str(tmp_path / "worker-data"),
    )
    log_path = tmp_path / "run.log"
    client = aioredis.Redis.from_url(settings.redis_url)
    scores = ScoreClient.from_settings(settings)
    run = start_make_run(settings, log_path)
    children: list[psutil.Process] = []
    try:
        await wait_until_consuming(settings, [])

        async def api_answers() -> bool:
            async with httpx.AsyncClient() as http:
                try:
                    url = f"http://127.0.0.1:{settings.api_port}/healthz"
                    return (await http.get(url, timeout=2)).status_code == 200
                except httpx.HTTPError:
                    return False

        async def scoring() -> bool:
            # The leaderboard's size, not a SCAN: one call whatever else the server holds.
            return await scores.size() > 0

        await eventually(api_answers, what="the API", deadline_s=60)
        await eventually(scoring, what="the worker to score demo traffic", deadline_s=90)
        children = psutil.Process(run.pid).children(recursive=True)
        commands = [" ".join(child.cmdline()) for child in children]
        for name in ("worker", "api", "simulate"):
            assert any(f"app.cli {name}" in command for command in commands), commands

        run.send_signal(stop_signal)
        assert run.wait(90) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"children left running: {alive}"
        output = log_path.read_text(errors="replace")
        assert "run: worker exited with 0" in output, output[-3000:]
        assert "run: api exited with 0" in output, output[-3000:]
        assert "run: demo exited with" in output, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
        for child in children:
            if child.is_running():
                child.kill()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
        await scores.aclose()
