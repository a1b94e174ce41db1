"""Records sent as aiokafka record batches to the real broker: cut by the producer's batch size,
delivered in order, each batch's last offset known, and a record larger than a batch sent alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from streams.record_batches import record_batches
from tests.support.kafka import created_topics, records_to_end

pytestmark = pytest.mark.integration

BATCH_BYTES = 1024


@pytest.fixture
async def topic(isolated_settings: Settings) -> AsyncIterator[str]:
    async with created_topics(isolated_settings, [isolated_settings.topic_scores], 1) as names:
        yield names[0]


@pytest.fixture
async def producer(isolated_settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(**aiokafka_kwargs(isolated_settings), max_batch_size=BATCH_BYTES)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()


async def test_records_go_in_order_in_batches_of_the_producers_size(
    isolated_settings: Settings, topic: str, producer: AIOKafkaProducer
) -> None:
    send = record_batches(lambda: producer)
    records = [(f"user-{i}".encode(), b"x" * 100) for i in range(40)]
    deliveries = await send(topic, 0, records)
    assert len(deliveries) > 1, "4 KB of records do not fit one 1 KB batch"
    assert sum(d.records for d in deliveries) == len(records)
    last_offsets = [await d.last_offset() for d in deliveries]
    assert last_offsets[-1] == len(records) - 1
    assert last_offsets == sorted(last_offsets)
    assert not any(d.failed() for d in deliveries)
    stored = await records_to_end(isolated_settings, topic)
    assert [(r.key, r.value) for r in stored] == records


async def test_a_record_larger_than_a_batch_goes_in_a_batch_of_its_own(
    isolated_settings: Settings, topic: str, producer: AIOKafkaProducer
) -> None:
    # aiokafka's builder takes any record into an empty batch, so record_batches' refusal of a
    # record that fits no batch is never reached with it; the broker's own limit still applies.
    send = record_batches(lambda: producer)
    records = [(b"small", b"x"), (b"big", b"x" * (4 * BATCH_BYTES)), (b"after", b"y")]
    deliveries = await send(topic, 0, records)
    assert [d.records for d in deliveries] == [1, 1, 1]
    assert [await d.last_offset() for d in deliveries] == [0, 1, 2]
    stored = await records_to_end(isolated_settings, topic)
    assert [(r.key, r.value) for r in stored] == records
