"""The CLI reads its settings once per process (`get_settings`): each test here reads its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.settings import get_settings


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
