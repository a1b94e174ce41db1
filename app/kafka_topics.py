"""Create Clout's topics up front, so no producer's first send auto-creates one wrongly.

A broker with `auto.create.topics.enable` creates a missing topic with its own default partition
count; the input topics must all have `Settings.topic_partitions` partitions for the worker's
co-partitioning. The worker declares them too; this lets producers and tools run first.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.kafka_config import aiokafka_kwargs
from app.settings import Settings


def clout_topics(settings: Settings) -> list[str]:
    """Every topic the pipeline reads or writes, besides Faust's own changelogs."""
    return [*settings.input_topics, settings.topic_rekeyed, settings.topic_dead_letters]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create whichever of Clout's topics are missing; returns the names created."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in clout_topics(settings) if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=settings.topic_partitions,
                        replication_factor=settings.topic_replication_factor,
                    )
                    for name in missing
                ]
            )
        return missing
    finally:
        await admin.close()
