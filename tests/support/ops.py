"""The ops monitor's tests' tooling: fast polling settings, waiting for a snapshot, the group's
offsets read independently of the monitor, and a snapshot built from two polls."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.ops.monitor import OpsMonitor
from app.ops.tracker import (
    FeedLag,
    LagTracker,
    MemberInfo,
    Observation,
    PartitionObservation,
    Snapshot,
)
from app.store.health import RedisHealth
from tests.support.waiting import eventually

FAST = {  # a verdict in about two seconds
    "ops_poll_interval_s": 0.2,
    "ops_status_window_s": 1.5,
    "ops_rate_window_s": 1.0,
    "ops_kafka_timeout_s": 5.0,
}


async def snapshot_where(
    monitor: OpsMonitor, check: Callable[[Snapshot], bool], what: str, deadline_s: float = 30.0
) -> Snapshot:
    """The first snapshot for which check(snapshot) holds, polled with a deadline."""

    async def probe() -> Snapshot | None:
        snap = monitor.snapshot
        return snap if check(snap) else None

    return await eventually(probe, deadline_s=deadline_s, interval_s=0.05, what=what)


async def independent_offsets(
    settings: Settings, partitions: int
) -> dict[tuple[str, int], tuple[int | None, int]]:
    """(committed, end) per partition of the input topics (each of `partitions`), read by a
    separate consumer that joins nothing."""
    reader = AIOKafkaConsumer(
        **aiokafka_kwargs(settings), group_id=settings.app_id, enable_auto_commit=False
    )
    await reader.start()
    try:
        tps = [TopicPartition(t, p) for t in settings.input_topics for p in range(partitions)]
        ends = await reader.end_offsets(tps)
        return {(tp.topic, tp.partition): (await reader.committed(tp), ends[tp]) for tp in tps}
    finally:
        await reader.stop()


def two_polls() -> Snapshot:
    """The snapshot after two polls of a two-partition input topic (one partition in error),
    with the score feed's lag and a healthy Redis."""
    tracker = LagTracker(group="clout-scorer", input_topics=("clout.likes",), dead_letter_topic="d")
    member = MemberInfo("worker-1-abc", "worker-1", "/10.0.0.1", 1)
    for ts, committed in ((0, 1000), (2_000, 1010)):
        snap = tracker.observe(
            Observation(
                ts_ms=ts,
                group="clout-scorer",
                group_state="Stable",
                members=(member,),
                partitions=(
                    PartitionObservation(
                        "clout.likes", 0, 0, 1234, committed, owner="worker-1-abc"
                    ),
                    PartitionObservation("clout.likes", 1, error="LeaderNotAvailableError"),
                ),
                feed=(
                    FeedLag("clout.scores", 8, 5_120, "perks", 17),
                    FeedLag("clout.score-thresholds", 8, 40),
                ),
            ),
            RedisHealth(True, 3 * 1048576, 0, 4.0),
        )
    return snap
