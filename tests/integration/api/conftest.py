"""The API app on the real Redis and Kafka, with its lifespan running, under httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from redis.asyncio import Redis

from app.api import create_api
from app.devtools.isolation import isolated
from app.settings import Settings
from tests.conftest import REDIS_VARIANTS, stack_on
from tests.support.api import issue_key


@asynccontextmanager
async def serve(settings: Settings, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `create_api(settings)`, inside the app's lifespan (as uvicorn runs it),
    sending `key` as X-API-Key on every request."""
    app = create_api(settings)
    headers = {} if key is None else {"X-API-Key": key}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://clout.test", headers=headers
        ) as http:
            yield http


@pytest.fixture
async def api_key(isolated_settings: Settings, store_redis: Redis) -> str:
    """A key with every scope and no practical limit (deleted with the test's prefix)."""
    return await issue_key(isolated_settings)


@pytest.fixture
async def api(isolated_settings: Settings, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app, called with `api_key`."""
    async with serve(isolated_settings, api_key) as http:
        yield http


@pytest.fixture(params=REDIS_VARIANTS)
def isolated_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings unique to this test, on the single server and (a second run) on the cluster."""
    return isolated(stack_on(request))
