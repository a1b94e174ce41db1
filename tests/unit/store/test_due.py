"""The sweep's due index, on an in-memory Redis stand-in (the deduplicator is a Lua script,
tested on the real server and cluster: tests/integration/store/test_dedupe.py)."""

from __future__ import annotations

from typing import Any

from app.store.due import DueIndex
from tests.support.fake_redis import FakeRedis


def redis() -> Any:
    return FakeRedis()


async def test_the_due_index_schedules_per_partition_and_drops_users_without_a_due() -> None:
    fake = redis()
    due = DueIndex(fake, "p")
    await due.schedule([(0, "a", 100), (0, "b", 300), (1, "c", 50), (0, "z", 10)])
    await due.schedule([(0, "z", None)])
    assert fake.zsets["p:due:0"] == {"a": 100, "b": 300}
    assert await due.due(0, now_ms=200, limit=10) == ["a"]
    assert await due.due(0, now_ms=400, limit=1) == ["a"]
    assert await due.due(1, now_ms=400, limit=10) == ["c"]
    assert due.key(3) == "p:due:3"


async def test_an_empty_schedule_costs_no_round_trip() -> None:
    fake = redis()
    await DueIndex(fake, "p").schedule([])
    assert fake.round_trips == 0
