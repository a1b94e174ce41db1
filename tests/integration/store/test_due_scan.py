"""DueIndex.scan on the real Redis: every scheduled user, even while the walk reschedules them."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.settings import Settings
from app.store.due import DueIndex

pytestmark = pytest.mark.integration


async def test_scan_returns_every_user_while_they_are_rescheduled(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    due = DueIndex(store_redis, isolated_settings.redis_key_prefix)
    await due.schedule([(3, f"u{i}", i) for i in range(5000)] + [(4, "other", 1)])
    seen: set[str] = set()
    async for users in due.scan(3, 500):
        seen.update(users)
        # As a re-score does: every user of the batch gets a new due time.
        await due.schedule([(3, user, 10_000_000) for user in users])
    assert seen == {f"u{i}" for i in range(5000)}
    assert [users async for users in due.scan(7, 500)] == []
