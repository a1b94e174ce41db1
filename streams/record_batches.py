"""Sending records to one topic partition as aiokafka record batches, and their delivery.

The score feed and the table changelog both send many small records at once. Handing aiokafka a
`BatchBuilder` per partition (`create_batch`, `send_batch`) costs far less CPU per record than
one `send()` per record, and draining Faust's own changelog path (a `FutureMessage` and a
`send()` per key) held each commit for seconds (CHANGELOG.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import RecordMetadata

Records = list[tuple[bytes, bytes]]
"""(key, value) pairs for one topic partition, in order."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One record batch handed to the producer: resolves once the broker has all its records."""

    future: asyncio.Future[RecordMetadata]
    records: int

    def failed(self) -> bool:
        """Whether the producer gave up on this batch (after its own retries)."""
        return self.future.done() and (
            self.future.cancelled() or self.future.exception() is not None
        )

    async def last_offset(self) -> int:
        """The offset the broker gave the batch's last record (raises if it was not delivered)."""
        metadata = await self.future
        return int(metadata.offset) + self.records - 1


SendRecords = Callable[[str, int, Records], Awaitable[list[Delivery]]]
"""(topic, partition, records) -> once queued with the producer, their deliveries in order."""


def record_batches(producer: Callable[[], AIOKafkaProducer]) -> SendRecords:
    """Send records as aiokafka record batches of `producer()`.

    A batch holds up to the producer's `max_batch_size` bytes; more records make more batches.
    """

    async def send(topic: str, partition: int, records: Records) -> list[Delivery]:
        kafka = producer()
        deliveries: list[Delivery] = []

        async def hand_over(batch: BatchBuilder) -> None:
            count = batch.record_count()
            future = await kafka.send_batch(batch, topic, partition=partition)
            deliveries.append(Delivery(future, count))

        batch = kafka.create_batch()
        for key, value in records:
            if batch.append(key=key, value=value, timestamp=None) is None:
                await hand_over(batch)
                batch = kafka.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a record of {len(value)} bytes exceeds a record batch")
        await hand_over(batch)
        return deliveries

    return send
