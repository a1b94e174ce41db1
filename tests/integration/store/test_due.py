"""The due index on the real Redis and the cluster: due users per partition in due order, and
`scan` returns every scheduled user even while the walk reschedules them."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio import Redis

from app.core.settings import Settings
from app.store.due import DueIndex

pytestmark = pytest.mark.integration


async def test_scan_returns_every_user_while_they_are_rescheduled(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    due = DueIndex(store_redis, isolated_settings.redis_key_prefix)
    await due.schedule([(3, f"u{i}", i) for i in range(5000)] + [(4, "other", 1)])
    seen: set[str] = set()
    async for users in due.scan(3, 500):
        seen.update(users)
        # As a re-score does: every user of the batch gets a new due time.
        await due.schedule([(3, user, 10_000_000) for user in users])
    assert seen == {f"u{i}" for i in range(5000)}
    assert [users async for users in due.scan(7, 500)] == []


async def test_due_users_come_per_partition_in_due_order(
    isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    due = DueIndex(redis_client, isolated_settings.redis_key_prefix)
    try:
        await due.schedule([(0, "b", 300), (0, "a", 100), (1, "c", 50), (0, "z", 10)])
        await due.schedule([(0, "z", None)])
        assert await due.due(0, now_ms=400, limit=10) == ["a", "b"]
        assert await due.due(0, now_ms=200, limit=10) == ["a"]
        assert await due.due(1, now_ms=400, limit=10) == ["c"]
    finally:
        await redis_client.delete(due.key(0), due.key(1))
