"""The Redis probe against the real server (and against a port where nothing listens)."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.store.connection import redis_from_settings
from app.store.health import probe_redis
from app.store.keys import RedisKeys

pytestmark = pytest.mark.integration


async def test_probe_reports_memory_and_the_age_of_the_newest_score_write(
    isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    prefix = isolated_settings.redis_key_prefix
    stats = RedisKeys(prefix).stats
    client = redis_from_settings(isolated_settings)
    try:
        before = await probe_redis(client, prefix, now_ms=1_000_000)
        assert before.reachable is True
        assert before.error is None
        assert before.used_memory_bytes is not None
        assert before.used_memory_bytes > 0
        assert (before.last_write_ms, before.last_write_age_s) == (None, None)

        await redis_client.hset(stats, "last_write_ms", 995_500)
        after = await probe_redis(client, prefix, now_ms=1_000_000)
        assert after.last_write_ms == 995_500
        assert after.last_write_age_s == pytest.approx(4.5)
        assert after.last_refit is None

        refit = {"version": 3, "fitted_at_ms": 990_000, "full": False, "population": 1200}
        await redis_client.lpush(RedisKeys(prefix).curve_history, orjson.dumps(refit))
        assert (await probe_redis(client, prefix, now_ms=1_000_000)).last_refit == refit
    finally:
        await redis_client.delete(stats, RedisKeys(prefix).curve_history)
        await client.aclose()
