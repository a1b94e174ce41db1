"""The decay sweep lowers a silent user's stored score without any new event."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.core.settings import ScoringSettings, Settings
from app.devtools.isolation import isolated
from app.store.keys import RedisKeys
from tests.support.kafka import encode, make_event, produce
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = pytest.mark.integration

# A like loses half its weight in about 9 s, so decay is visible within a test.
FAST_DECAY = ScoringSettings(like_half_life_days=1e-4)


async def test_sweep_lowers_a_silent_users_score(
    stack: Settings, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    settings = isolated(
        stack, scoring=FAST_DECAY, sweep_interval_s=1.0, topic_partitions=2, worker_metrics_port=0
    )
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        await wait_until_consuming(settings, [worker])
        target = f"quiet-{uuid.uuid4().hex[:8]}"
        events = [make_event(f"fan-{i}", target) for i in range(30)]
        await produce(settings, settings.topic_likes, [encode(e) for e in events])
        key = RedisKeys(settings.redis_key_prefix).user(target)

        async def first_write() -> tuple[float, int] | None:
            stored = await redis_client.hmget(key, ["score", "updated_at"])
            return None if stored[0] is None else (float(stored[0]), int(stored[1]))

        first_score, first_at = await eventually(first_write, what="the first score")
        assert first_score > 1.0

        async def lowered() -> tuple[float, int] | None:
            score, at = await first_write() or (first_score, first_at)
            return (score, at) if score < first_score else None

        score, updated_at = await eventually(lowered, deadline_s=45, what="a lower swept score")
        assert 1.0 <= score < first_score
        assert updated_at > first_at
        worker.assert_alive()
    finally:
        worker.stop()
