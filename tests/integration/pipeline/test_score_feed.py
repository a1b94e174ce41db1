"""The score feed on the real stack: a plain Kafka consumer rebuilds every score Redis has, and
threshold records follow the hysteresis rule."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.config import aiokafka_kwargs
from app.kafka.score_feed import ScoreFeed, ScoreRecord
from app.kafka.topics import ensure_topics
from app.store import redis_from_settings
from app.store.cleanup import delete_prefix
from app.store.writer import FeedMarks, ScoreWriter
from streams.feed import FeedProducer
from streams.record_batches import record_batches
from tests.support.cards import make_card, now_ms
from tests.support.feed import last_per_user, read_to_end, redis_scores
from tests.support.kafka import encode, make_event, produce
from tests.support.redis_variants import REDIS_VARIANTS, stack_on
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=REDIS_VARIANTS)
def feed_settings(request: pytest.FixtureRequest) -> Settings:
    return isolated(stack_on(request), worker_metrics_port=0)


@pytest.fixture(scope="module")
def worker(
    feed_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(feed_settings, tmp_path_factory.mktemp("worker"))
    process.start()
    yield process
    process.stop()


def tagged(i: int) -> dict[str, list[str]]:
    """Even users' events are about coffee; odd users' say nothing about a topic."""
    return {"topics": ["coffee"]} if i % 2 == 0 else {}


async def test_a_plain_consumer_rebuilds_every_score_redis_has(
    worker: WorkerProcess, feed_settings: Settings
) -> None:
    settings = feed_settings
    await wait_until_consuming(settings, [worker])
    users = [f"u{i}-{uuid.uuid4().hex[:6]}" for i in range(40)]
    # Several rounds, so most users' scores change more than once (separate batches).
    for round_ in range(4):
        events = [
            encode(make_event(f"fan-{round_}-{j}", user, **tagged(i)))
            for i, user in enumerate(users)
            for j in range(1 + (i + round_) % 3)
        ]
        await produce(settings, settings.topic_likes, events)
        await wait_caught_up(settings, [*settings.input_topics, settings.topic_rekeyed])

    async def rebuilt() -> tuple[list[dict[str, Any]], dict[str, float]] | None:
        records = await read_to_end(settings, settings.topic_scores)
        scores = await redis_scores(settings)
        return (records, scores) if last_per_user(records) == scores else None

    records, scores = await eventually(rebuilt, what="the feed to match Redis")
    assert set(scores) == set(users)
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_user[str(record["user_id"])].append(record)
    for user, history in by_user.items():
        # Each record starts where the one before ended, and none is older than the one before.
        assert history[0]["previous"] is None, user
        for before, after in itertools.pairwise(history):
            assert after["previous"] == before["score"], (user, history)
            assert after["updated_at"] >= before["updated_at"], (user, history)
        assert {r["cause"] for r in history} <= {"event", "decay"}
        # Every engagement of an even user was about coffee: the card, so the record, says so.
        about = [t["topic"] for t in history[-1]["influential_about"]]
        assert about == (["coffee"] if users.index(user) % 2 == 0 else []), (user, history[-1])

    # The Python helper reads the same records from the beginning, decoded.
    followed: dict[str, float] = {}
    async with asyncio.timeout(60), ScoreFeed(settings, from_beginning=True) as feed:
        async for record in feed:
            assert isinstance(record, ScoreRecord)
            followed[record.user_id] = record.score
            if followed == scores:
                break
    assert followed == scores


async def test_threshold_records_follow_the_hysteresis_rule(
    feed_settings: Settings,
) -> None:
    """The worker's own write path (FeedProducer over a real writer and a real producer)."""
    settings = isolated(feed_settings, "th")
    await ensure_topics(settings)
    redis = redis_from_settings(settings)
    producer = AIOKafkaProducer(**aiokafka_kwargs(settings), acks="all")
    await producer.start()
    marks = FeedMarks("test-producer", (40.0, 50.0, 60.0), hysteresis=1.0)
    writer = ScoreWriter(redis, settings.redis_key_prefix, feed=marks)
    feed = FeedProducer(
        send=record_batches(lambda: producer),
        writer=writer,
        scores_topic=settings.topic_scores,
        thresholds_topic=settings.topic_score_thresholds,
        thresholds=marks.thresholds,
        partitions=settings.topic_partitions,
        params=settings.model_params(),
    )
    try:
        at = now_ms()
        path = [38.0, 40.0, 39.5, 40.4, 39.0, 41.0, 38.9, 52.0, 61.0, 49.5, 48.9]
        for step, score in enumerate(path):
            await feed.write([make_card("hover", score, 1.0, at + step)], "event")
        await producer.flush()
    finally:
        await producer.stop()
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()

    records = await read_to_end(settings, settings.topic_score_thresholds)
    crossings = [(r["threshold"], r["direction"], r["previous"], r["score"]) for r in records]
    # each against the card it replaced (read by the script): the same raw a ms later
    assert {r["driver"] for r in records} == {"decay while quiet"}
    assert crossings == [
        (40.0, "up", 38.0, 40.0),
        (40.0, "down", 41.0, 38.9),  # 39.5 and 39.0 were within the hysteresis: no flapping
        (40.0, "up", 38.9, 52.0),
        (50.0, "up", 38.9, 52.0),
        (60.0, "up", 52.0, 61.0),
        (60.0, "down", 61.0, 49.5),
        (50.0, "down", 49.5, 48.9),
    ]
    scores = [r["score"] for r in await read_to_end(settings, settings.topic_scores)]
    assert scores == path
