"""The Redis probe against the real server (and against a port where nothing listens)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.scoring.card import TopicInfluence
from app.store.cleanup import delete_prefix
from app.store.connection import RedisClient as Redis
from app.store.connection import redis_from_settings
from app.store.health import TOPIC_MEMORY_SAMPLE, probe_redis
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard
from tests.support.redis_variants import REDIS_VARIANTS, stack_on
from tests.support.topics import write_topics

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


@pytest.fixture(params=REDIS_VARIANTS)
async def topic_store(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Settings, Redis]]:
    """A client under a fresh prefix on the single server and on the cluster; keys deleted."""
    settings = isolated(stack_on(request))
    redis = redis_from_settings(settings)
    try:
        yield settings, redis
    finally:
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()


async def memory_of(redis: Redis, keys: list[str]) -> int:
    return sum([int(await redis.memory_usage(key) or 0) for key in keys])


async def test_probe_counts_live_topics_and_their_keys_memory(
    topic_store: tuple[Settings, Redis],
) -> None:
    settings, redis = topic_store
    prefix = settings.redis_key_prefix
    keys = RedisKeys(prefix)
    empty = await probe_redis(redis, prefix)
    assert (empty.live_topics, empty.topic_memory_bytes) == (0, 0)

    about = {
        f"user-{i}": [TopicInfluence(f"topic-{i % 3}", 0.5, float(i), 40.0, "global")]
        for i in range(60)
    }
    await write_topics(redis, prefix, about, now_ms=1_000)
    await redis.hset(keys.topic_curves, "_version", 1)
    board = await probe_redis(redis, prefix)
    shards = len(Leaderboard(redis, prefix).keys)  # the store's default for this Redis
    expected = await memory_of(
        redis,
        [keys.topics, keys.topic_curves]
        + [
            keys.topic_leaderboard(f"topic-{t}", k, shards) for t in range(3) for k in range(shards)
        ],
    )
    assert (board.live_topics, board.topic_memory_bytes) == (3, expected)
    assert board.topic_memory_estimated is False

    # More live topics than the probe measures: the boards' memory is extrapolated.
    many = {
        f"fan-{i}": [TopicInfluence(f"subject-{i:02d}", 0.5, 1.0, 10.0, "global")]
        for i in range(TOPIC_MEMORY_SAMPLE + 10)
    }
    await write_topics(redis, prefix, many, now_ms=2_000)
    estimated = await probe_redis(redis, prefix)
    assert estimated.live_topics == 3 + TOPIC_MEMORY_SAMPLE + 10
    assert estimated.topic_memory_estimated is True
    assert estimated.topic_memory_bytes is not None
    assert estimated.topic_memory_bytes > expected
