"""Existing topics with the wrong partition count: the worker refuses to start, and says why.

Found on a long-lived dev broker whose topics had 1 partition while CLOUT_TOPIC_PARTITIONS was 8:
the worker computed each user's partition modulo 8, so 7 events in 8 looked mis-partitioned and
were re-keyed, and re-keyed again, without end (5,000 copies per second).
"""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.config import aiokafka_kwargs
from app.kafka.topics import TopicLayoutError, ensure_topics
from tests.support.cli import clout_process

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_partition_topics(stack: Settings) -> Settings:
    """Isolated settings for 8 partitions whose input topics already exist with 2."""
    settings = isolated(stack, topic_partitions=8)
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1) for name in settings.input_topics])
    finally:
        await admin.close()
    return settings


async def test_ensure_topics_refuses_topics_with_another_partition_count(
    two_partition_topics: Settings,
) -> None:
    settings = two_partition_topics

    with pytest.raises(TopicLayoutError) as refused:
        await ensure_topics(settings)

    for name in settings.input_topics:
        assert f"{name} has 2" in str(refused.value)


def test_the_worker_exits_2_with_the_reason_and_no_traceback(
    two_partition_topics: Settings,
) -> None:
    worker = clout_process(two_partition_topics, "worker", timeout_s=120)

    assert worker.returncode == 2, worker.stderr[-2000:]
    assert "CLOUT_TOPIC_PARTITIONS=8" in worker.stderr
    assert f"{two_partition_topics.topic_likes} has 2" in worker.stderr
    assert "Traceback" not in worker.stderr
