"""A paused worker: frozen (SIGSTOP) past its session while traffic flows, resumed (SIGCONT)
after its partitions moved. It finishes the batch it was in and flushes its state, a "zombie"
writing cards and changelog records after the new owner's. Nothing may be lost or counted
twice: in Redis, in the live tables (the resumed worker takes partitions back, its store holding
its own late writes), and in a table restored from the changelog by a successor with an empty
store.

Expectations are exact, as in test_scale_out_crash.py: every card equals the model applied once
to every counted event. The changelog is also read directly, to show that the scenario happened:
records of the paused worker's generation landed after the new owner's, and are the last record
of users that a restore taking the last record per key would get wrong.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.step.stored_user import StoredUser
from app.store.cleanup import delete_prefix
from tests.support.crash_scenario import start_two_owners
from tests.support.kafka import records_to_end
from tests.support.outcome import group_members, in_flight, seen_positions, wait_for_exact_cards
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.worker import (
    WorkerProcess,
    committed_and_ends,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.integration,
    pytest.mark.timeout(600),
]

SESSION_TIMEOUT_S = 6.0
HELD_AFTER_TAKEOVER_S = 6.0
"""How long the paused worker stays frozen after the survivor owns its partitions (the
survivor meanwhile scores them and writes their changelog records)."""


@dataclass(frozen=True)
class ChangelogSummary:
    """What a restore of the whole changelog meets."""

    records: int
    late: int  # records of a generation older than one already in their partition
    last_is_stale: set[str]  # users whose last record is not their newest generation's


async def read_changelog(settings: Settings) -> ChangelogSummary:
    """Read the signal table's changelog from the start to its end, every partition."""
    records = late = 0
    newest: dict[int, int] = {}
    last: dict[bytes, int] = {}
    best: dict[bytes, int] = {}
    for record in await records_to_end(settings, f"{settings.app_id}-signals-changelog"):
        records += 1
        generation = StoredUser.from_bytes(record.value).generation
        if generation < newest.get(record.partition, -1):
            late += 1
        newest[record.partition] = max(generation, newest.get(record.partition, -1))
        assert record.key is not None
        last[record.key] = generation
        best[record.key] = max(generation, best.get(record.key, -1))
    stale = {key.decode() for key, generation in last.items() if generation < best[key]}
    return ChangelogSummary(records, late, stale)


async def test_a_worker_paused_past_its_session_and_resumed_loses_nothing_counts_nothing_twice(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(
        stack,
        worker_metrics_port=0,
        sweep_interval_s=2.0,
        worker_session_timeout_s=SESSION_TIMEOUT_S,
        batch_max_events=400,
    )
    topics = [*settings.input_topics, settings.topic_rekeyed]
    # Three waves from different actors to the same targets, the second to half of them only:
    # the second lands on the resumed worker's live table; the third on a table restored from
    # the changelog, where the last records of some of the other half are the paused worker's.
    first = make_traffic(settings, seed=71, targets=1500, max_engagers=10, actor_tag="a")
    second = make_traffic(settings, seed=72, targets=750, max_engagers=10, actor_tag="b")
    third = make_traffic(settings, seed=73, targets=1500, max_engagers=10, actor_tag="c")
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    paused = WorkerProcess(settings, tmp_path, "paused", loglevel="info")
    survivor = WorkerProcess(settings, tmp_path, "survivor", loglevel="info")
    successor = WorkerProcess(settings, tmp_path, "successor", loglevel="info")
    try:
        actors = {**first.actors, **second.actors, **third.actors}
        await give_standing(client, settings, actors)
        paused_owns = await start_two_owners(settings, paused, survivor)

        producing = asyncio.create_task(produce_all(settings, first.messages, pace_per_s=600.0))
        # Freeze the worker in the middle of work it has not committed, so that it has a
        # batch to finish and state to flush when it comes back; first let it commit (a worker
        # frozen while still taking its assignment over has no work of its own yet).
        deadline = time.monotonic() + 60
        while True:
            paused.assert_alive()
            assert time.monotonic() < deadline, "the worker never committed"
            committed, _ = await committed_and_ends(settings, topics)
            done = {(tp.topic, tp.partition) for tp, offset in committed.items() if offset > 0}
            if done & paused_owns:
                break
            await asyncio.sleep(0.5)
        deadline = time.monotonic() + 60
        while True:
            paused.assert_alive()
            assert time.monotonic() < deadline, "the worker never had uncommitted work"
            os.kill(paused.pid, signal.SIGSTOP)
            frozen_at = time.monotonic()
            await asyncio.sleep(0.3)
            if await in_flight(client, settings, paused_owns, topics) > 0:
                break
            os.kill(paused.pid, signal.SIGCONT)
            await asyncio.sleep(0.5)
        # Frozen past its session: the survivor alone owns everything and scores all of the
        # first wave, the frozen worker's uncommitted work included.
        while True:
            assert time.monotonic() - frozen_at < 90, "the group never moved the partitions"
            members = await group_members(settings)
            if len(members) == 1 and paused_owns <= next(iter(members.values())):
                break
            await asyncio.sleep(0.5)
        await producing
        await wait_caught_up(settings, topics, deadline_s=180, alive=[survivor])
        frozen_for = time.monotonic() - frozen_at
        os.kill(paused.pid, signal.SIGCONT)

        # It finishes its batch (cards, changelog records of its old generation), fails to
        # commit and rejoins. Redis stays exact.
        await wait_until_consuming(settings, [paused, survivor], members=2, deadline_s=120)
        await wait_for_exact_cards(client, settings, first, deadline_s=240, alive=[paused])
        await wait_caught_up(settings, topics, deadline_s=180, alive=[paused, survivor])
        summary = await read_changelog(settings)
        print(
            f"\npaused {frozen_for:.1f} s; changelog: {summary.records} records, "
            f"{summary.late} late, {len(summary.last_is_stale)} users whose last record is stale"
        )
        assert summary.late > 0, "the resumed worker wrote no late record: nothing to fence"
        untouched = summary.last_is_stale - set(second.targets)
        assert untouched, "no stale last record survives until the restore: it proves nothing"

        # The survivor leaves: the resumed worker takes every partition back, its own store
        # holding its late writes, and its live table carries on exactly.
        survivor.stop()
        await wait_until_consuming(settings, [paused], members=1, deadline_s=120)
        (owned,) = (await group_members(settings)).values()
        assert paused_owns <= owned
        await produce_all(settings, second.messages, pace_per_s=1500.0)
        so_far = first.then(second)
        await wait_for_exact_cards(client, settings, so_far, deadline_s=240, alive=[paused])

        # A successor with an empty store restores every partition from the changelog.
        paused.stop()
        successor.start()
        await wait_until_consuming(settings, [successor])
        await produce_all(settings, third.messages, pace_per_s=1500.0)
        so_far = so_far.then(third)
        await wait_for_exact_cards(client, settings, so_far, deadline_s=240, alive=[successor])
        await wait_caught_up(settings, topics, deadline_s=120, alive=[successor])
        assert len(await seen_positions(client, settings)) == len(so_far.counted)
        log = successor.log_path.read_text(errors="replace")
        assert "Restoring state from changelog topics" in log, "the successor read the changelog"
        assert "Traceback" not in log, successor.log_tail(60)
    finally:
        for worker in (paused, survivor, successor):
            if worker.proc is not None and worker.proc.poll() is None:
                os.kill(worker.pid, signal.SIGCONT)
            worker.stop(signal.SIGKILL)
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
