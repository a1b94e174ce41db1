"""Topic declarations: the three input topics, the re-key topic and dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from app.core.settings import Settings
from app.scoring.events import Kind


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
    kind_of_topic = {topic: kind for kind, topic in settings.topic_of_kind.items()}
    return Topics(
        inputs=app.topic(*settings.input_topics, settings.topic_rekeyed, **raw),
        rekeyed=app.topic(settings.topic_rekeyed, **raw),
        dead_letters=app.topic(settings.topic_dead_letters, **raw),
        kind_of_topic=kind_of_topic,
        rekeyed_name=settings.topic_rekeyed,
    )
