"""The ops monitor observing the real `clout worker`: stopped, it shows the backlog; back, lag 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.ops.monitor import OpsMonitor
from app.ops.status import Status
from tests.support.kafka import encode, make_event, produce
from tests.support.ops import FAST, independent_offsets, snapshot_where
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = pytest.mark.integration

PARTITIONS = 2


@pytest.fixture
async def settings(stack: Settings) -> Settings:
    return isolated(stack, topic_partitions=PARTITIONS, worker_metrics_port=0, **FAST)


async def test_real_worker_backlog_and_catch_up(
    settings: Settings, monitor: OpsMonitor, tmp_path: Path
) -> None:
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        await wait_until_consuming(settings, [worker])
        snap = await snapshot_where(
            monitor,
            lambda s: s.status is Status.OK and s.total_lag == 0 and len(s.partitions) > 0,
            "the running worker judged OK",
            deadline_s=60,
        )
    finally:
        worker.stop()

    events = [make_event(f"fan-{i}", f"user-{i % 7}") for i in range(40)]
    await produce(settings, settings.topic_likes, [encode(e) for e in events])
    snap = await snapshot_where(
        monitor,
        lambda s: s.total_lag == len(events) and s.status is not Status.OK,
        "the stopped worker's backlog",
    )
    truth = await independent_offsets(settings, PARTITIONS)
    shown = {(r.topic, r.partition): (r.committed, r.end) for r in snap.partitions}
    assert shown == truth
    assert snap.total_lag == sum(end - (committed or 0) for committed, end in truth.values())

    worker = WorkerProcess(settings, tmp_path, name="worker-again")
    worker.start()
    try:
        snap = await snapshot_where(
            monitor,
            lambda s: s.total_lag == 0 and s.status is Status.OK,
            "the restarted worker caught up",
            deadline_s=90,
        )
    finally:
        worker.stop()
    assert {row.status for row in snap.partitions} == {Status.OK}
