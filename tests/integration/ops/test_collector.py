"""The lag collector's poll against the real broker: end and committed offsets per partition of
the group's input topics, and a missing topic reported as such rather than raised."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.ops.collector import KafkaLagCollector
from tests.support.kafka import created_topics, encode, make_event, produce

pytestmark = pytest.mark.integration

PARTITIONS = 2


@pytest.fixture
async def settings(isolated_settings: Settings) -> AsyncIterator[Settings]:
    """Isolated settings whose likes topic exists with two partitions (the others do not)."""
    async with created_topics(isolated_settings, [isolated_settings.topic_likes], PARTITIONS):
        yield isolated_settings


async def commit(settings: Settings, offsets: dict[int, int]) -> None:
    """Commit `offsets` (partition -> offset) of the likes topic for the settings' group."""
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings), group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        chosen = {TopicPartition(settings.topic_likes, p): o for p, o in offsets.items()}
        consumer.assign(list(chosen))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in chosen.items()})
    finally:
        await consumer.stop()


async def test_a_poll_sees_ends_commits_and_a_missing_topic(settings: Settings) -> None:
    records = [encode(make_event(event_id=f"e{i}", target="alice")) for i in range(3)]
    await produce(settings, settings.topic_likes, records, partition=0)
    await commit(settings, {0: 1})
    collector = KafkaLagCollector(settings, input_topics=[settings.topic_likes, "nowhere.topic"])
    await collector.start()
    try:
        observation = await collector.collect()
    finally:
        await collector.stop()
    rows = {(p.topic, p.partition): p for p in observation.partitions}
    first = rows[(settings.topic_likes, 0)]
    assert (first.end, first.committed, first.error) == (3, 1, None)
    second = rows[(settings.topic_likes, 1)]
    assert (second.end, second.committed) == (0, None)
    assert rows[("nowhere.topic", -1)].error == "topic does not exist"
    assert observation.group == settings.app_id


async def test_collect_before_start_says_so(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="start"):
        await KafkaLagCollector(settings).collect()
