"""`clout follow` as a user runs it: a subprocess printing the feed's records as they arrive."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.devtools.worker_process import settings_env
from app.kafka.score_feed import ScoreRecord, ThresholdRecord
from app.kafka.topics import ensure_topics
from tests.support.kafka import produce

pytestmark = pytest.mark.integration
STOP_TIMEOUT_S = 15.0


async def follow_lines(
    settings: Settings,
    args: list[str],
    count: int,
    stop: signal.Signals,
    *,
    as_background_job: bool = False,
) -> list[str]:
    """The first `count` lines `clout follow ARGS` prints; then `stop` must end it cleanly.

    `as_background_job` starts it the way a shell starts a script's `cmd &`: with SIGINT ignored
    (the child inherits that disposition).
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if as_background_job else None
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "follow",
            *args,
            env={**os.environ, **settings_env(settings)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    assert child.stdout is not None
    try:
        async with asyncio.timeout(60):
            return [(await child.stdout.readline()).decode().rstrip("\n") for _ in range(count)]
    finally:
        child.send_signal(stop)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                code: int | None = await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()
            code = None
        stderr = (await child.stderr.read()).decode() if child.stderr else ""
        expected = 128 + stop
        assert code == expected, f"clout follow exited {code} after {stop.name}: {stderr[-2000:]}"


async def test_follow_prints_changes_and_crossings(stack: Settings) -> None:
    settings = isolated(stack)
    await ensure_topics(settings)
    changes = [
        ScoreRecord("alice", 41.0, 38.5, 2.0, "liked", "m", 3, 1_795_000_000_000, "event"),
        ScoreRecord("bob", 12.0, None, 0.5, "sharer", "m", 3, 1_795_000_000_500, "decay"),
    ]
    crossing = ThresholdRecord(
        "alice",
        40.0,
        "up",
        41.0,
        38.5,
        1_795_000_000_000,
        "event",
        "driven by +1.2 raw of new likes on twitter",
    )
    await produce(
        settings, settings.topic_scores, [(r.user_id.encode(), r.to_json()) for r in changes]
    )
    await produce(settings, settings.topic_score_thresholds, [(b"alice", crossing.to_json())])

    lines = await follow_lines(
        settings, ["--from-beginning", "--json"], 2, signal.SIGINT, as_background_job=True
    )
    printed = sorted((ScoreRecord.from_json(line.encode()) for line in lines), key=str)
    assert printed == changes  # alice before bob
    (line,) = await follow_lines(settings, ["--thresholds", "--from-beginning"], 1, signal.SIGTERM)
    assert line == (
        "2026-11-18 11:06:40  alice  up above 40"
        "  (38.5 -> 41.0, event; driven by +1.2 raw of new likes on twitter)"
    )
