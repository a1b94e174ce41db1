"""A worker killed after its write-behind flush and before its offset commit counts exactly.

The state flush runs just before each offset commit (streams/commit.py, step 1):
the table and its changelog then hold effects of events whose offsets Kafka has not recorded.
Killed at that moment, the next owner re-reads those events; the applied-offset watermark in the
flushed state must make the replay change nothing. The next owner here starts with an empty
table store (as a worker on another machine would), so the state comes from the changelog.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from app.core.settings import Settings
from tests.support.crash_scenario import CRASH_TEST_MARKS, crash_scenario
from tests.support.outcome import (
    assert_counted_once_and_feed_on_cards,
    assert_faust_lost_no_delivery,
    seen_positions,
    wait_for_exact_cards,
)
from tests.support.traffic import produce_all
from tests.support.worker import (
    WorkerProcess,
    committed_and_ends,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = CRASH_TEST_MARKS

KILL_AT_COMMIT = 2


async def test_kill_between_state_flush_and_offset_commit_loses_nothing_counts_nothing_twice(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with crash_scenario(stack, seed=41, targets=900) as run:
        settings, traffic, topics, client = run.settings, run.traffic, run.topics, run.redis
        monkeypatch.setenv("CLOUT_TEST_KILL_AT_COMMIT", str(KILL_AT_COMMIT))
        doomed = WorkerProcess(
            settings,
            tmp_path,
            "doomed",
            loglevel="info",
            module="tests.support.worker_killed_before_commit",
        )
        successor = WorkerProcess(settings, tmp_path, "successor", loglevel="info")
        try:
            doomed.start()
            await wait_until_consuming(settings, [doomed])
            producing = asyncio.create_task(
                produce_all(settings, traffic.messages, pace_per_s=1000.0)
            )
            deadline = time.monotonic() + 120
            while doomed.proc is not None and doomed.proc.poll() is None:
                assert time.monotonic() < deadline, "the worker never reached its fatal commit"
                await asyncio.sleep(0.2)
            assert doomed.proc is not None
            assert doomed.proc.returncode == -signal.SIGKILL, doomed.log_tail()
            assert f"fault: killed at commit {KILL_AT_COMMIT}" in doomed.log_path.read_text()
            # Events were applied (their first sighting recorded) beyond the committed offsets:
            # the successor must re-read them, and their effects are already in the flushed state.
            committed, _ = await committed_and_ends(settings, topics)
            by_tp = {(tp.topic, tp.partition): offset for tp, offset in committed.items()}
            beyond = [
                (topic, partition, offset)
                for topic, partition, offset in await seen_positions(client, settings)
                if offset >= by_tp.get((topic, partition), 0)
            ]
            assert beyond, (
                "the kill left no applied-but-uncommitted events; the test proves nothing"
            )

            monkeypatch.delenv("CLOUT_TEST_KILL_AT_COMMIT")
            successor.start()
            await wait_until_consuming(settings, [successor])
            await producing
            await wait_for_exact_cards(client, settings, traffic, deadline_s=240, alive=[successor])
            await wait_caught_up(settings, topics, deadline_s=120, alive=[successor])
            await assert_counted_once_and_feed_on_cards(client, settings, len(traffic.counted))
            successor.assert_alive()
            assert_faust_lost_no_delivery(successor)
        finally:
            doomed.stop(signal.SIGKILL)
            successor.stop()
