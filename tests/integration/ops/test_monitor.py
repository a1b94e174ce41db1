"""The ops monitor against the real broker, with a plain aiokafka consumer standing in for the
worker (same group id, commits offsets by hand).

Poll interval and status window are shrunk so a verdict takes about two seconds; every wait is a
poll with a deadline.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.ops.monitor import OpsMonitor
from app.ops.status import Status
from app.ops.tracker import Snapshot
from tests.support.cli import clout
from tests.support.kafka import created_topics, encode, make_event, produce
from tests.support.ops import FAST, independent_offsets, snapshot_where
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PARTITIONS = 2


@pytest.fixture
async def settings(isolated_settings: Settings) -> AsyncIterator[Settings]:
    """Isolated settings with fast ops polling and the four topics created (2 partitions)."""
    settings = isolated_settings.model_copy(update=FAST)
    topics = [*settings.input_topics, settings.topic_dead_letters]
    async with created_topics(settings, topics, PARTITIONS):
        yield settings


def standin_worker(settings: Settings) -> AIOKafkaConsumer:
    """A plain consumer in the worker's group, committing by hand like the worker would."""
    return AIOKafkaConsumer(
        *settings.input_topics,
        **aiokafka_kwargs(settings),
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


async def consume_and_commit(consumer: AIOKafkaConsumer, expected: int) -> None:
    """Read until `expected` records arrived and every partition is assigned; commit."""
    seen = 0

    async def step() -> bool:
        nonlocal seen
        batches = await consumer.getmany(timeout_ms=200)
        seen += sum(len(batch) for batch in batches.values())
        await consumer.commit()
        return seen >= expected and len(consumer.assignment()) == 3 * PARTITIONS

    await eventually(step, deadline_s=30, interval_s=0, what=f"{expected} records consumed")


async def produce_backlog(settings: Settings, per_partition: int) -> int:
    """`per_partition` events on every partition of every input topic; returns the total."""
    for topic in settings.input_topics:
        for partition in range(PARTITIONS):
            events = [make_event("a", f"u{i}") for i in range(per_partition)]
            await produce(settings, topic, [encode(e) for e in events], partition=partition)
    return per_partition * PARTITIONS * len(settings.input_topics)


def judged(snap: Snapshot) -> bool:
    """Every input partition is known, error-free and past its warm-up window."""
    rows = snap.partitions
    return (
        len(rows) == 3 * PARTITIONS
        and all(row.error is None and not row.warming_up for row in rows)
        and snap.poll_error is None
    )


async def test_stopped_worker_shows_its_backlog_and_recovers(
    settings: Settings, monitor: OpsMonitor
) -> None:
    worker = standin_worker(settings)
    await worker.start()
    await consume_and_commit(worker, 0)
    snap = await snapshot_where(
        monitor,
        lambda s: judged(s) and s.group_state == "Stable" and s.status is Status.OK,
        "a caught-up, judged group",
    )
    assert snap.total_lag == 0
    assert len(snap.members) == 1
    assert all(row.owner == snap.members[0].member_id for row in snap.partitions)

    await worker.stop()  # the worker is gone; events keep arriving
    backlog = await produce_backlog(settings, per_partition=5)
    snap = await snapshot_where(
        monitor,
        lambda s: s.total_lag == backlog and all(r.status is not Status.OK for r in s.partitions),
        "the backlog to show and every partition to leave OK",
    )
    assert snap.status is Status.ERR
    assert {row.status for row in snap.partitions} == {Status.STOP}  # nobody owns them
    assert all(row.lag == 5 for row in snap.partitions)
    assert all(row.owner is None for row in snap.partitions)
    assert all(row.lag_seconds is not None and row.lag_seconds > 0 for row in snap.partitions)

    # the figures match committed and end offsets read independently
    truth = await independent_offsets(settings, PARTITIONS)
    shown = {(row.topic, row.partition): (row.committed, row.end) for row in snap.partitions}
    assert shown == truth
    assert snap.total_lag == sum(end - (committed or 0) for committed, end in truth.values())

    worker = standin_worker(settings)  # the worker comes back and catches up
    await worker.start()
    try:
        await consume_and_commit(worker, backlog)
        snap = await snapshot_where(
            monitor,
            lambda s: s.total_lag == 0 and s.status is Status.OK and judged(s),
            "lag back to 0 and status OK",
        )
    finally:
        await worker.stop()
    assert {row.status for row in snap.partitions} == {Status.OK}
    assert all(row.lag_seconds == 0.0 for row in snap.partitions)


async def test_live_worker_that_stops_committing_is_stall(
    settings: Settings, monitor: OpsMonitor
) -> None:
    worker = standin_worker(settings)
    await worker.start()
    try:
        await consume_and_commit(worker, 0)
        await snapshot_where(
            monitor,
            lambda s: judged(s) and s.status is Status.OK and len(s.members) == 1,
            "a caught-up, judged group",
        )
        # still a member (heartbeats go on in the background) but no longer reading
        backlog = await produce_backlog(settings, per_partition=2)
        snap = await snapshot_where(
            monitor,
            lambda s: (
                s.total_lag == backlog and all(r.status is not Status.OK for r in s.partitions)
            ),
            "every partition to leave OK",
        )
        assert snap.status is Status.ERR
        assert {row.status for row in snap.partitions} == {Status.STALL}  # owned, not moving
        assert all(row.owner is not None for row in snap.partitions)
        assert snap.group_state == "Stable"

        await consume_and_commit(worker, backlog)
        snap = await snapshot_where(
            monitor, lambda s: s.total_lag == 0 and s.status is Status.OK, "recovery"
        )
        assert snap.events_per_s is not None
    finally:
        await worker.stop()


async def test_clout_lag_prints_the_same_figures(settings: Settings) -> None:
    backlog = await produce_backlog(settings, per_partition=1)
    code, stdout, stderr = await clout(settings, "lag", "--json", "--samples", "2")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["group"] == settings.app_id
    assert doc["summary"]["total_lag"] == backlog
    assert doc["poll"]["polls"] >= 2
    truth = await independent_offsets(settings, PARTITIONS)
    shown = {(r["topic"], r["partition"]): (r["committed"], r["end"]) for r in doc["partitions"]}
    assert shown == truth
