"""SyncScoreClient: the same lookups from code without an event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.core.settings import Settings
from app.scoring.card import ScoreCard, TopicInfluence
from app.store import ScoreWriter, SyncScoreClient, parse_since, redis_from_settings
from app.store.cleanup import delete_prefix
from app.store.topics import InfluencerQuery
from tests.support.cards import make_card, now_ms
from tests.support.topics import write_topics

pytestmark = pytest.mark.integration


def write(settings: Settings, cards: list[ScoreCard]) -> None:
    async def run() -> None:
        redis = redis_from_settings(settings)
        try:
            await ScoreWriter(redis, settings.redis_key_prefix).write(cards)
        finally:
            await redis.aclose()

    asyncio.run(run())


@pytest.fixture
def sync_client(isolated_settings: Settings) -> Iterator[SyncScoreClient]:
    with SyncScoreClient(isolated_settings) as reader:
        yield reader

    async def cleanup() -> None:
        redis = redis_from_settings(isolated_settings)
        await delete_prefix(redis, isolated_settings.redis_key_prefix)
        await redis.aclose()

    asyncio.run(cleanup())


def test_sync_lookups(sync_client: SyncScoreClient, isolated_settings: Settings) -> None:
    at = now_ms()
    write(
        isolated_settings,
        [make_card("alice", 30.0, 1.0, at), make_card("bob", 60.0, 5.0, at)],
    )
    bob = sync_client.get("bob")
    assert bob is not None
    assert (bob.score, bob.rank, bob.percentile) == (60.0, 1, 100.0)
    assert sync_client.get("nobody") is None
    many = sync_client.get_many(["alice", "nobody"])
    assert many["nobody"] is None
    assert many["alice"] is not None
    assert many["alice"].rank == 2
    assert [e.user_id for e in sync_client.top(10)] == ["bob", "alice"]
    assert [d.score for d in sync_client.history("alice", 1)] == [30.0]
    explanation = sync_client.explain("alice")
    assert explanation is not None
    assert explanation.components == {"like": {"twitter": 1.0}}
    moved = sync_client.attribution("bob", parse_since("24h"))  # today's snapshot: no change
    assert moved is not None
    assert (moved.raw_change, moved.driver()) == (0.0, "decay while quiet")


def test_sync_change_feed(sync_client: SyncScoreClient, isolated_settings: Settings) -> None:
    with sync_client.changes() as feed, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(next, feed)
        write(isolated_settings, [make_card("carol", 44.4)])
        change = pending.result(timeout=10)
    assert (change.user_id, change.score, change.previous) == ("carol", 44.4, None)


def test_a_closed_client_refuses_calls(isolated_settings: Settings) -> None:
    reader = SyncScoreClient(isolated_settings)
    reader.close()
    reader.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        reader.get("alice")


def test_sync_topic_reads(sync_client: SyncScoreClient, isolated_settings: Settings) -> None:
    at = now_ms()
    write(isolated_settings, [make_card("alice", 30.0, 1.0, at), make_card("bob", 60.0, 5.0, at)])

    async def tag() -> None:
        redis = redis_from_settings(isolated_settings)
        try:
            about = {
                "alice": [TopicInfluence("coffee", 0.8, 0.8, 35.0, "global")],
                "bob": [TopicInfluence("coffee", 0.2, 1.0, 40.0, "global")],
            }
            await write_topics(redis, isolated_settings.redis_key_prefix, about, at)
        finally:
            await redis.aclose()

    asyncio.run(tag())
    entries, total = sync_client.topic_top("coffee", 10)
    assert ([e.user_id for e in entries], total) == (["bob", "alice"], 2)
    page = sync_client.find(InfluencerQuery(topic="coffee", min_score=36.0))
    assert [i.user_id for i in page.influencers] == ["bob"]
    assert page.next_cursor is None
