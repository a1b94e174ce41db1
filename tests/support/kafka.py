"""Plain-client helpers for tests: topics of a test's own, produce engagement events, read a
topic back."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs


def make_event(actor: str = "fan-1", target: str = "alice", **overrides: Any) -> dict[str, Any]:
    """A valid wire-format event happening now."""
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "network": "twitter",
        "actor_id": actor,
        "target_id": target,
        "post_id": None,
        "ts": int(time.time() * 1000),
    }
    event.update(overrides)
    return event


async def produce(
    settings: Settings,
    topic: str,
    messages: list[tuple[bytes | None, bytes]],
    partition: int | None = None,
) -> None:
    """Send (key, value) pairs with a plain aiokafka producer and wait for every ack."""
    producer = AIOKafkaProducer(**aiokafka_kwargs(settings), acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, value=value, key=key, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


def encode(event: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) for an event keyed by its target, as producers should send it."""
    return str(event["target_id"]).encode(), orjson.dumps(event)


async def read_all(
    settings: Settings, topic: str, expected: int, deadline_s: float = 60.0, *, drain: bool = False
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read `topic` from the beginning until `expected` records arrived or the deadline passed;
    with `drain`, poll once more so that records beyond `expected` (that should not be) show."""
    consumer = AIOKafkaConsumer(
        topic,
        **aiokafka_kwargs(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,  # the topic may be created after we subscribe
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + deadline_s
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
        if drain:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def records_to_end(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the beginning to its end as of the call, each partition's
    records in offset order (for topics whose size a test does not know in advance)."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0, described
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"topic {topic} has no partitions: {described}"
    consumer = AIOKafkaConsumer(
        **aiokafka_kwargs(settings), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


@asynccontextmanager
async def created_topics(
    settings: Settings, names: Iterable[str], partitions: int
) -> AsyncIterator[list[str]]:
    """`names` created with `partitions` partitions each for the block, deleted afterwards."""
    topics = list(names)
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, replication_factor=1) for t in topics])
        yield topics
        await admin.delete_topics(topics)
    finally:
        await admin.close()
