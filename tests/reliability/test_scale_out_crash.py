"""Scale-out and crash: two workers share 8 partitions, one is killed with SIGKILL mid-stream.

The survivor takes the dead worker's partitions over, rebuilds their table partitions from the
changelog and re-reads everything the dead worker had not committed. The final cards in Redis
must equal those of one uninterrupted run over the same events: the exact model applied once to
each counted event (an uninterrupted worker is checked against the same expectation in
test_state_recovery.py and test_hostile_input.py). Counts exact, floats within 1e-6.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from app.core.settings import Settings
from tests.support.crash_scenario import CRASH_TEST_MARKS, crash_scenario, start_two_owners
from tests.support.outcome import (
    assert_counted_once_and_feed_on_cards,
    assert_faust_lost_no_delivery,
    card_mismatches,
    group_members,
    in_flight,
    read_cards,
    wait_for_exact_cards,
)
from tests.support.traffic import produce_all
from tests.support.worker import (
    WorkerProcess,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = CRASH_TEST_MARKS


async def test_kill_9_one_of_two_workers_mid_stream_loses_nothing_counts_nothing_twice(
    stack: Settings, tmp_path: Path
) -> None:
    async with crash_scenario(stack, seed=11, targets=1800) as run:
        settings, traffic, topics, client = run.settings, run.traffic, run.topics, run.redis
        assert settings.topic_partitions == 8
        params = settings.model_params()
        victim = WorkerProcess(settings, tmp_path, "victim")
        survivor = WorkerProcess(settings, tmp_path, "survivor")
        try:
            victim_owns = await start_two_owners(settings, victim, survivor)

            producing = asyncio.create_task(
                produce_all(settings, traffic.messages, pace_per_s=1200.0)
            )
            # Kill the victim in the middle of work it has not committed. SIGSTOP first: a frozen
            # process commits nothing, so what it left half done can be measured exactly, and the
            # kill only lands once there is some (else it runs on a little and is tried again).
            deadline = time.monotonic() + 90
            while True:
                victim.assert_alive()
                assert time.monotonic() < deadline, "the victim never had uncommitted work"
                os.kill(victim.pid, signal.SIGSTOP)
                await asyncio.sleep(0.3)  # a commit already on the wire lands first
                left_half_done = await in_flight(client, settings, victim_owns, topics)
                if left_half_done > 0:
                    victim.stop(signal.SIGKILL)
                    break
                os.kill(victim.pid, signal.SIGCONT)
                await asyncio.sleep(0.5)

            await producing
            # The survivor takes over and the result is exact.
            await wait_for_exact_cards(client, settings, traffic, deadline_s=240, alive=[survivor])
            after = await group_members(settings)
            assert len(after) == 1, after
            (owned_by_survivor,) = after.values()
            assert victim_owns <= owned_by_survivor, "the survivor took the victim's partitions"

            # Restart the survivor: it re-reads everything after the committed offsets, including
            # what the victim had applied but not committed. Replays must change nothing.
            survivor.stop()
            survivor.start()
            await wait_until_consuming(settings, [survivor])
            await wait_caught_up(settings, topics, deadline_s=180, alive=[survivor])
            cards = await read_cards(client, settings, traffic.targets)
            problems = card_mismatches(cards, traffic.expected_states(params), params)
            assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
            assert set(cards) == set(traffic.targets)
            # Records the victim made but never sent are made again by the survivor.
            await assert_counted_once_and_feed_on_cards(client, settings, len(traffic.counted))
            survivor.assert_alive()
            assert_faust_lost_no_delivery(survivor)
        finally:
            victim.stop(signal.SIGKILL)
            survivor.stop()
