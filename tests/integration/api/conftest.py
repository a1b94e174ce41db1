"""The API app on the real Redis and Kafka, with its lifespan running, under httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from tests.support.api import issue_key, serve
from tests.support.redis_variants import isolated_on_each_redis  # noqa: F401  (isolated_settings)


@pytest.fixture
async def api_key(isolated_settings: Settings, store_redis: Redis) -> str:
    """A key with every scope and no practical limit (deleted with the test's prefix)."""
    return await issue_key(isolated_settings)


@pytest.fixture
async def api(isolated_settings: Settings, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app, called with `api_key`."""
    async with serve(isolated_settings, api_key) as http:
        yield http
