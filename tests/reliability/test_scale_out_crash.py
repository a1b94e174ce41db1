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

import pytest
import redis.asyncio as aioredis

from app.devtools.isolation import isolated
from app.settings import Settings
from tests.reliability.helpers import (
    card_mismatches,
    delete_prefix,
    give_standing,
    group_members,
    make_traffic,
    produce_all,
    read_cards,
    seen_positions,
    wait_for_exact_cards,
)
from tests.support.feed import feed_ends_on_cards
from tests.support.waiting import eventually
from tests.support.worker import (
    WorkerProcess,
    committed_and_ends,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.integration,
    pytest.mark.timeout(420),
]


async def in_flight(
    client: aioredis.Redis, settings: Settings, owned: set[tuple[str, int]], topics: list[str]
) -> int:
    """Events on `owned` partitions the worker has started to apply but not yet committed.

    The deduplicator records an event's position before its effects are applied; a recorded
    position at or beyond the group's committed offset is work a crash now would leave to be
    redone by whoever gets the partition next.
    """
    committed, _ = await committed_and_ends(settings, topics)
    by_tp = {(tp.topic, tp.partition): offset for tp, offset in committed.items()}
    return sum(
        1
        for topic, partition, offset in await seen_positions(client, settings)
        if (topic, partition) in owned and offset >= by_tp.get((topic, partition), 0)
    )


async def test_kill_9_one_of_two_workers_mid_stream_loses_nothing_counts_nothing_twice(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(
        stack,
        worker_metrics_port=0,
        sweep_interval_s=2.0,
        worker_session_timeout_s=8.0,
        batch_max_events=400,
    )
    assert settings.topic_partitions == 8
    topics = [*settings.input_topics, settings.topic_rekeyed]
    traffic = make_traffic(settings, seed=11, targets=1800)
    params = settings.model_params()
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    victim = WorkerProcess(settings, tmp_path, "victim")
    survivor = WorkerProcess(settings, tmp_path, "survivor")
    try:
        await give_standing(client, settings, traffic.actors)
        victim.start()
        await wait_until_consuming(settings, [victim])
        (victim_id,) = await group_members(settings)
        survivor.start()
        await wait_until_consuming(settings, [victim, survivor], members=2)
        members = await group_members(settings)
        victim_owns = members[victim_id]
        assert victim_owns, members
        assert all(members.values()), "both workers must own partitions before the crash"

        producing = asyncio.create_task(produce_all(settings, traffic.messages, pace_per_s=1200.0))
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
        # Exactly one first sighting recorded per counted event: every duplicate was dropped,
        # and no event was recorded twice at two positions.
        assert len(await seen_positions(client, settings)) == len(traffic.counted)
        # The score feed: records the victim made but never sent are made again by the
        # survivor, so each user's last record is its final card.
        await eventually(
            lambda: feed_ends_on_cards(settings),
            deadline_s=60,
            what="every user's last feed record to equal its final Redis score",
        )
        survivor.assert_alive()
    finally:
        victim.stop(signal.SIGKILL)
        survivor.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
