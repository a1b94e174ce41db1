"""Fixtures for store tests: a writer and a read client under the test's own key prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from app.store import ScoreClient


@pytest.fixture
async def client(isolated_settings: Settings) -> AsyncIterator[ScoreClient]:
    async with ScoreClient.from_settings(isolated_settings) as reader:
        yield reader
