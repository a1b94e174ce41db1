"""The API app on the real Redis and Kafka, with its lifespan running, under httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from app.api import create_app
from app.devtools.isolation import isolated
from app.settings import Settings
from tests.conftest import REDIS_VARIANTS, stack_on


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `create_app(settings)`, inside the app's lifespan (as uvicorn runs it)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clout.test") as http:
            yield http


@pytest.fixture
async def api(isolated_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(isolated_settings) as http:
        yield http


@pytest.fixture(params=REDIS_VARIANTS)
def isolated_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings unique to this test, on the single server and (a second run) on the cluster."""
    return isolated(stack_on(request))
