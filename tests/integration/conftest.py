"""Fixtures shared by the integration tests: the store under the test's own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.store import ScoreWriter, redis_from_settings
from app.store.cleanup import delete_prefix


@pytest.fixture
async def store_redis(isolated_settings: Settings) -> AsyncIterator[Redis]:
    """A client from the store's own factory; the test's keys are deleted afterwards."""
    redis = redis_from_settings(isolated_settings)
    try:
        yield redis
    finally:
        await delete_prefix(redis, isolated_settings.redis_key_prefix)
        await redis.aclose()


@pytest.fixture
def writer(store_redis: Redis, isolated_settings: Settings) -> ScoreWriter:
    return ScoreWriter(store_redis, isolated_settings.redis_key_prefix)
