"""The ops monitor lists the score feed's topics with the lag of each group that reads them."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.core.settings import Settings
from app.kafka.score_feed import ScoreFeed, ScoreRecord
from app.kafka.topics import ensure_topics
from app.ops.monitor import OpsMonitor
from app.ops.tracker import FeedLag
from tests.support.kafka import produce
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(isolated_settings: Settings) -> Settings:
    """Isolated settings with fast polling and every Clout topic created."""
    settings = isolated_settings.model_copy(
        update={"ops_poll_interval_s": 0.2, "ops_kafka_timeout_s": 5.0, "topic_partitions": 2}
    )
    await ensure_topics(settings)
    return settings


def record(user: str, score: float) -> tuple[bytes, bytes]:
    value = ScoreRecord(user, score, None, 1.0, "liked", "m", 0, 1, "event").to_json()
    return user.encode(), value


async def test_feed_topics_show_their_readers_lag(settings: Settings) -> None:
    await produce(settings, settings.topic_scores, [record(f"u{i}", 10.0 + i) for i in range(5)])
    group = f"feed-reader-{uuid.uuid4().hex[:8]}"
    async with (
        asyncio.timeout(60),
        ScoreFeed(settings, group=group, from_beginning=True) as feed,
    ):
        read = 0
        async for _ in feed:
            read += 1
            if read == 3:
                break
        await feed.commit()  # three of five handled: the group is two behind

    monitor = OpsMonitor(settings)
    await monitor.start()
    try:

        async def feed_rows() -> tuple[FeedLag, ...] | None:
            rows = monitor.snapshot.feed  # readers appear once the groups were looked through
            return rows if any(row.group == group for row in rows) else None

        rows = await eventually(feed_rows, deadline_s=60, what="the feed rows on the ops page")
    finally:
        await monitor.stop()
    assert rows == (
        FeedLag(settings.topic_scores, 2, 5, group, 2),
        FeedLag(settings.topic_score_thresholds, 2, 0),  # nobody reads it
    )
    document = monitor.document(history=False)
    assert document["feed"][0] == {
        "topic": settings.topic_scores,
        "partitions": 2,
        "end": 5,
        "group": group,
        "lag": 2,
    }
