"""Create Clout's topics up front and wait until the cluster lists them.

A broker with `auto.create.topics.enable` creates a missing topic with its own default partition
count on a producer's first send, while the input topics must all have `Settings.topic_partitions`
partitions for the worker's co-partitioning. And a topic Faust creates right before subscribing
can be missing from the metadata the group assignment reads ("Ignoring missing topic"), leaving
its partitions unassigned for good. So the worker, `clout simulate`, `make run` and the benchmark
all create the topics here first and wait for their metadata, and refuse topics that already
exist with another partition count (the worker would re-key such events forever).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import lru_cache

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code
from aiokafka.partitioner import murmur2

from app.core.errors import ConfigurationError
from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs

log = logging.getLogger(__name__)


@lru_cache(maxsize=65_536)
def partition_for(user_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a key (murmur2, as the Java client).

    Producers key events by target user; the publisher groups envelopes and the worker checks
    partitions with this one function, so both agree with every Kafka client. Cached: aiokafka's
    murmur2 is pure Python, and the worker asks again for every event of a user.
    """
    return (int(murmur2(user_id.encode())) & 0x7FFFFFFF) % partitions


class TopicLayoutError(ConfigurationError):
    """Existing topics do not have the partition count the worker's co-partitioning needs."""


def clout_topics(settings: Settings) -> list[str]:
    """Every topic the pipeline reads or writes, besides Faust's own changelog and assignor."""
    return [
        *settings.input_topics,
        settings.topic_rekeyed,
        settings.topic_dead_letters,
        *feed_topics(settings),
    ]


def feed_topics(settings: Settings) -> tuple[str, str]:
    """The score feed's topics: score changes (compacted) and threshold crossings."""
    return (settings.topic_scores, settings.topic_score_thresholds)


async def ensure_topics(settings: Settings, deadline_s: float = 60.0) -> list[str]:
    """Create whichever of Clout's topics are missing and wait until metadata shows them all.

    A broker that is still starting gets until the deadline to answer. Returns the names created.
    """
    names = clout_topics(settings)
    deadline = time.monotonic() + deadline_s
    while True:
        admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
        try:
            await admin.start()
            break
        except KafkaConnectionError as exc:
            await admin.close()
            if time.monotonic() > deadline:
                raise
            log.warning("Kafka not reachable yet (%s); retrying", exc)
            await asyncio.sleep(1.0)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        settings.topic_partitions,
                        settings.topic_replication_factor,
                        topic_configs=topic_configs(settings, name),
                    )
                    for name in missing
                ]
            )
            for name, code, *_ in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"cannot create topic {name}")
        while True:
            described = await admin.describe_topics(names)
            if all(t["error_code"] == 0 and t["partitions"] for t in described):
                check_partition_counts(
                    settings, {t["topic"]: len(t["partitions"]) for t in described}
                )
                return missing
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics not visible in cluster metadata: {described}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def topic_configs(settings: Settings, name: str | None = None) -> dict[str, str]:
    """Per-topic configuration of the topic `name` Clout creates (None: Faust's changelog).

    The scores feed is compacted: it keeps every user's latest record (a table's changelog), so
    a consumer reading it from the beginning rebuilds every score. Threshold crossings are
    events, kept for the broker's retention.
    """
    configs = {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
    if name == settings.topic_scores:
        configs["cleanup.policy"] = "compact"
    return configs


def check_partition_counts(settings: Settings, partitions: dict[str, int]) -> None:
    """Raise TopicLayoutError unless the input, re-key and feed topics have `topic_partitions`.

    The worker finds a user's partition as murmur2(user id) mod `topic_partitions`, and its table
    changelog is partitioned alike; on a topic with another count most events would look
    mis-partitioned and be re-keyed again and again. The score feed places its records the same
    way (streams/feed.py), where the default partitioner of any client would expect them.
    """
    wrong = {
        name: partitions[name]
        for name in (*settings.input_topics, settings.topic_rekeyed, *feed_topics(settings))
        if partitions[name] != settings.topic_partitions
    }
    if wrong:
        found = ", ".join(f"{name} has {count}" for name, count in sorted(wrong.items()))
        raise TopicLayoutError(
            f"topic partition counts differ from CLOUT_TOPIC_PARTITIONS={settings.topic_partitions}"
            f" ({found}); the input, re-key and score feed topics must all have that many"
            " partitions: recreate them (local stack: `make clean`) or set"
            " CLOUT_TOPIC_PARTITIONS to match"
        )
