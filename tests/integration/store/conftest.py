"""Fixtures for store tests: a writer and a read client under the test's own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.settings import Settings
from app.store import ScoreClient, redis_from_settings
from app.store.connection import RedisClient
from tests.support.redis_variants import isolated_on_each_redis  # noqa: F401  (isolated_settings)


@pytest.fixture
async def client(isolated_settings: Settings) -> AsyncIterator[ScoreClient]:
    async with ScoreClient.from_settings(isolated_settings) as reader:
        yield reader


@pytest.fixture
async def redis_client(isolated_settings: Settings) -> AsyncIterator[RedisClient]:
    """A raw client (bytes, not the store's decoding one) on the test's server or cluster."""
    client = redis_from_settings(isolated_settings, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()
