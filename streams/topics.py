"""Topic declarations: the three input topics, the re-key topic and dead letters."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

from app.kafka_config import aiokafka_kwargs
from app.scoring.events import Kind
from app.settings import Settings

KIND_HEADER = "clout-kind"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """Every topic the worker reads or writes, and which signal kind each input topic carries."""

    inputs: faust.TopicT
    rekeyed: faust.TopicT
    dead_letters: faust.TopicT
    kind_of_topic: dict[str, Kind]
    rekeyed_name: str


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Declare topics with raw bytes in and out: decoding and validation happen in the agent.

    All are `internal`, so the worker creates any that are missing with the configured partition
    count and replication (co-partitioning needs the same count on every input topic).
    """
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "partitions": settings.topic_partitions,
        "replicas": settings.topic_replication_factor,
        "internal": True,
    }
    kind_of_topic = {
        settings.topic_likes: Kind.LIKE,
        settings.topic_shares: Kind.SHARE,
        settings.topic_mentions: Kind.MENTION,
    }
    return Topics(
        inputs=app.topic(*settings.input_topics, settings.topic_rekeyed, **raw),
        rekeyed=app.topic(settings.topic_rekeyed, **raw),
        dead_letters=app.topic(settings.topic_dead_letters, **raw),
        kind_of_topic=kind_of_topic,
        rekeyed_name=settings.topic_rekeyed,
    )


async def ensure_topics(settings: Settings, deadline_s: float = 60.0) -> None:
    """Create the worker's own topics if missing, and wait until the cluster lists them all.

    Faust creates missing topics itself, then subscribes at once; on a broker whose metadata has
    not caught up with the creation yet, the group assignment says "Ignoring missing topic" and
    that topic's partitions are never assigned (seen with a fresh broker: mentions and the re-key
    topic unread for good). Creating them before Faust starts, and waiting until metadata shows
    their partitions, removes the race.
    """
    names = [*settings.input_topics, settings.topic_rekeyed, settings.topic_dead_letters]
    deadline = time.monotonic() + deadline_s
    while True:  # a broker that is still starting gets until the deadline to answer
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
        missing = [name for name in names if name not in set(await admin.list_topics())]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
                    for name in missing
                ]
            )
            for name, code, *_ in response.topic_errors:
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"cannot create topic {name}")
        while True:
            described = await admin.describe_topics(names)
            if all(t["error_code"] == 0 and t["partitions"] for t in described):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics not visible in cluster metadata: {described}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
