"""The deduplicator and the sweep's due index, on an in-memory Redis stand-in."""

from __future__ import annotations

from typing import Any

from app.store.dedupe import EventDeduplicator
from app.store.due import DueIndex
from tests.unit.store.fake_redis import FakeRedis


def redis() -> Any:
    return FakeRedis()


async def test_a_first_sighting_counts_and_a_re_send_elsewhere_does_not() -> None:
    fake = redis()
    dedupe = EventDeduplicator(fake, "p", window_s=3600)
    verdicts = await dedupe.first_sightings(
        [("e1", "likes:0:5"), ("e2", "likes:0:6"), ("e1", "likes:0:9:3")]
    )
    assert verdicts == [True, True, False]
    assert fake.round_trips == 1  # one pipeline for the whole batch
    assert fake.strings["p:seen:e1"] == "likes:0:5"
    assert fake.expiry["p:seen:e1"] == 3600


async def test_the_same_position_again_is_a_replay_and_counts() -> None:
    dedupe = EventDeduplicator(redis(), "p", window_s=60)
    assert await dedupe.first_sightings([("e1", "likes:1:4:2")]) == [True]
    assert await dedupe.first_sightings([("e1", "likes:1:4:2")]) == [True]
    assert await dedupe.first_sightings([("e1", "likes:1:4:3")]) == [False]


async def test_no_sightings_cost_no_round_trip() -> None:
    fake = redis()
    assert await EventDeduplicator(fake, "p", window_s=60).first_sightings([]) == []
    assert fake.round_trips == 0


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
