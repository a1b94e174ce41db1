"""Deleting a prefix on the real server and the cluster: every key under it, nothing else."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.store.cleanup import delete_prefix

pytestmark = pytest.mark.integration


async def test_every_key_under_the_prefix_goes_and_no_other(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    prefix = isolated_settings.redis_key_prefix
    neighbour = f"{prefix}-neighbour:kept"  # shares the text, not the prefix's colon
    mine = [f"{prefix}:user:{{u{i}}}" for i in range(25)]
    for key in [*mine, neighbour]:
        await store_redis.set(key, "1")
    try:
        assert await delete_prefix(store_redis, prefix, batch=10) == len(mine)
        assert [await store_redis.exists(key) for key in mine] == [0] * len(mine)
        assert await store_redis.exists(neighbour) == 1
        assert await delete_prefix(store_redis, prefix) == 0
    finally:
        await store_redis.delete(neighbour)
