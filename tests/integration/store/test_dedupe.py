"""The deduplicator on the real Redis and the cluster: first sightings, replays and re-sends."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.store.dedupe import CHUNK_SIZE, EventDeduplicator

pytestmark = pytest.mark.integration


async def test_first_sightings_replays_and_re_sends(
    isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    prefix = isolated_settings.redis_key_prefix
    dedupe = EventDeduplicator(redis_client, prefix, window_s=60)
    try:
        first = await dedupe.first_sightings(
            [("e1", "likes:0:5"), ("e2", "likes:0:6:1"), ("e1", "likes:0:9")]
        )
        again = await dedupe.first_sightings([("e2", "likes:0:6:1"), ("e2", "likes:0:6:2")])
        assert first == [True, True, False]
        assert again == [True, False]
        assert 0 < await redis_client.ttl(f"{prefix}:seen:e1") <= 60
    finally:
        await redis_client.delete(f"{prefix}:seen:e1", f"{prefix}:seen:e2")


async def test_verdicts_keep_their_order_across_chunks_and_slots(
    isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    """More ids than one script call takes, each re-sent later in the same batch: every verdict
    lands on its own sighting, and a same-position replay of the first half still counts."""
    prefix = isolated_settings.redis_key_prefix
    ids = [f"bulk-{i}" for i in range(CHUNK_SIZE + CHUNK_SIZE // 2)]
    firsts = [(event_id, f"likes:0:{i}") for i, event_id in enumerate(ids)]
    re_sends = [(event_id, f"likes:1:{i}") for i, event_id in enumerate(ids)]
    dedupe = EventDeduplicator(redis_client, prefix, window_s=60)
    try:
        verdicts = await dedupe.first_sightings([*firsts, *re_sends])
        replayed = await dedupe.first_sightings(firsts[: len(ids) // 2])
        assert verdicts == [True] * len(ids) + [False] * len(ids)
        assert replayed == [True] * (len(ids) // 2)
        stored = await redis_client.get(f"{prefix}:seen:{ids[-1]}")
        assert stored == f"likes:0:{len(ids) - 1}".encode()
    finally:
        await redis_client.delete(*(f"{prefix}:seen:{event_id}" for event_id in ids))


async def test_an_empty_batch_has_no_verdicts(
    isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    dedupe = EventDeduplicator(redis_client, isolated_settings.redis_key_prefix, window_s=60)
    assert await dedupe.first_sightings([]) == []
