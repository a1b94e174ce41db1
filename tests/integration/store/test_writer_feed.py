"""ScoreWriter's feed marks against the real Redis: which applied cards need a feed record.

The script decides atomically with the card: a visible change needs a record (with the previous
score and the threshold levels); a record whose producer never confirmed it is made again, with
equal content, by the next writer of that user.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.store.writer import FeedChange, FeedMarks, ScoreWriter
from tests.support.cards import make_card, now_ms

pytestmark = pytest.mark.integration

THRESHOLDS = (40.0, 50.0, 60.0, 70.0, 80.0)


def feed_writer(redis: Redis, settings: Settings, producer_id: str) -> ScoreWriter:
    marks = FeedMarks(producer_id, THRESHOLDS, hysteresis=1.0)
    return ScoreWriter(redis, settings.redis_key_prefix, feed=marks)


def summary(changes: list[FeedChange]) -> list[tuple[str, float, float | None, int, int]]:
    return [(c.card.user_id, c.score, c.previous, c.level_before, c.level_after) for c in changes]


async def test_only_visible_changes_need_records(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    writer = feed_writer(store_redis, isolated_settings, "w1")
    at = now_ms()
    first = await writer.apply(
        [make_card("alice", 45.04, 3.0, at), make_card("bob", 12.0, 1.0, at)]
    )
    assert first.count == 2
    assert summary(first.changes) == [("alice", 45.0, None, 0, 1), ("bob", 12.0, None, 0, 0)]

    # Same visible score (45.04 and 44.96 both show 45.0): applied, but no record.
    same = await writer.apply([make_card("alice", 44.96, 3.1, at + 1)])
    assert (same.count, same.changes) == (1, [])
    moved = await writer.apply([make_card("alice", 51.0, 4.0, at + 2)])
    assert summary(moved.changes) == [("alice", 51.0, 45.0, 1, 2)]
    stale = await writer.apply([make_card("alice", 20.0, 1.0, at)])
    assert (stale.count, stale.changes) == (0, [])


async def test_hysteresis_is_kept_between_writes(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    writer = feed_writer(store_redis, isolated_settings, "w1")
    at = now_ms()
    levels = []
    for step, score in enumerate([39.5, 40.0, 39.1, 40.3, 38.9, 40.0]):
        applied = await writer.apply([make_card("hover", score, 2.0, at + step)])
        levels += [(c.level_before, c.level_after) for c in applied.changes]
    # up at 40.0; 39.1 and 40.3 stay up; down only below 39.0; up again at 40.0
    assert levels == [(0, 0), (0, 1), (1, 1), (1, 1), (1, 0), (0, 1)]


async def test_an_unconfirmed_record_of_another_producer_is_made_again(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    dead = feed_writer(store_redis, isolated_settings, "dead")
    heir = feed_writer(store_redis, isolated_settings, "heir")
    at = now_ms()
    await dead.apply([make_card("carol", 38.0, 2.0, at)])
    await dead.confirm_feed([("carol", at)])
    lost = await dead.apply([make_card("carol", 45.0, 3.0, at + 1)])
    assert summary(lost.changes) == [("carol", 45.0, 38.0, 0, 1)]
    # "dead" never confirms: the replay by "heir" writes the same score, and the record again,
    # with the content the lost one had (previous score and levels).
    replay = await heir.apply([make_card("carol", 45.0, 3.0, at + 5)])
    assert summary(replay.changes) == summary(lost.changes)
    # Only the record's own producer can confirm it, and only that record.
    await dead.confirm_feed([("carol", at + 1)])
    again = await feed_writer(store_redis, isolated_settings, "third").apply(
        [make_card("carol", 45.0, 3.0, at + 6)]
    )
    assert summary(again.changes) == summary(lost.changes)
    await heir.confirm_feed([("carol", at + 5)])  # not the latest record ("third" made that)
    by_heir = await heir.apply([make_card("carol", 45.0, 3.0, at + 7)])
    assert summary(by_heir.changes) == summary(lost.changes)
    # heir's own record, in flight and not confirmed yet, is not lost: no record again
    in_flight = await heir.apply([make_card("carol", 45.0, 3.0, at + 8)])
    assert (in_flight.count, in_flight.changes) == (1, [])


async def test_confirmed_records_are_not_made_again(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    first = feed_writer(store_redis, isolated_settings, "first")
    at = now_ms()
    await first.apply([make_card("dave", 61.0, 5.0, at)])
    await first.confirm_feed([("dave", at)])
    after = await feed_writer(store_redis, isolated_settings, "next").apply(
        [make_card("dave", 61.0, 5.0, at + 1)]
    )
    assert (after.count, after.changes) == (1, [])


async def test_without_a_feed_no_records_and_no_marks(
    writer: ScoreWriter, store_redis: Redis, isolated_settings: Settings
) -> None:
    applied = await writer.apply([make_card("erin", 70.0, 6.0)])
    assert (applied.count, applied.changes) == (1, [])
    fields = await store_redis.hkeys(writer.keys.user("erin"))
    assert "score" in fields
    assert not [f for f in fields if f.startswith("feed")]


async def test_a_renewed_producer_id_makes_its_unconfirmed_records_again(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    """A write that failed part way may have marked records it never sent."""
    writer = feed_writer(store_redis, isolated_settings, "w1")
    at = now_ms()
    sent = await writer.apply([make_card("gil", 55.0, 4.0, at)])
    writer.renew_feed_producer()
    again = await writer.apply([make_card("gil", 55.0, 4.0, at)])  # the retry of that write
    assert summary(again.changes) == summary(sent.changes) == [("gil", 55.0, None, 0, 2)]
