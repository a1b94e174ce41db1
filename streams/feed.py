"""The worker's side of the score feed: records for the changes its Redis writes applied.

The writer's script decides, atomically with each card, whether the card needs a feed record
(its visible score changed, or an earlier record may have died with its producer) and returns
the threshold levels before and after (app/store/writer.py). This module sends those records
with the worker's producer as part of the batch's score write, which every offset commit waits
for (streams/commit.py), so the producer flush that follows delivers them before the offsets of
the events that caused them are committed.

Records go out as aiokafka record batches (streams/record_batches.py), one or a few per topic
partition per write, each placed by the partition Kafka's default partitioner gives the user id
(murmur2, as every client).

Once a write's records are delivered, the next write confirms them in Redis; a record never
confirmed (the worker died first) is made again by the next write of that user by another
producer, e.g. the replay of the uncommitted batch (docs/guarantees.md "Score feed").
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.kafka.score_feed import Cause, ScoreRecord, ThresholdRecord
from app.kafka.topics import partition_for
from app.scoring.attribution import raw_driver
from app.scoring.card import ScoreCard
from app.scoring.params import ModelParams
from app.scoring.thresholds import crossings
from app.store.writer import Applied, FeedChange, ScoreWriter
from streams.record_batches import Delivery, Records, SendRecords

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sent:
    """Records of one topic partition sent together, and their deliveries."""

    topic: str
    partition: int
    records: Records
    deliveries: list[Delivery]


@dataclass(slots=True)
class _InFlight:
    """One write's records: confirmed in Redis once every one of them is delivered."""

    users: list[tuple[str, int]]  # (user id, the record's updated_at) as confirm_feed takes them
    sent: list[_Sent]


class FeedProducer:
    """Writes cards to Redis and sends the feed records of what they changed.

    The executor, the decay sweep and the re-score after a refit all write through one
    `FeedProducer`, which holds a lock from the Redis write until its records are queued with the
    producer: a user's records then reach the topic in the order Redis applied its cards.
    `partitions` must be the feed topics' partition count (they are created with
    `Settings.topic_partitions`, and `ensure_topics` refuses other counts).
    """

    def __init__(
        self,
        *,
        send: SendRecords,
        writer: ScoreWriter,
        scores_topic: str,
        thresholds_topic: str,
        thresholds: Sequence[float],
        partitions: int,
        params: ModelParams,
    ) -> None:
        """`params`: the model, to say in a threshold record what drove the crossing."""
        self._send = send
        self._params = params
        self._writer = writer
        self._scores_topic = scores_topic
        self._thresholds_topic = thresholds_topic
        self._thresholds = tuple(thresholds)
        self._partitions = partitions
        self._in_flight: list[_InFlight] = []
        self._lock = asyncio.Lock()

    async def write(
        self, cards: Sequence[ScoreCard], cause: Cause, fences: Mapping[str, int] | None = None
    ) -> Applied:
        """Apply `cards` to Redis (with `fences`, as `ScoreWriter.apply`), then queue the feed
        records of the changes they made.

        Confirms earlier records first, so a Redis error raises before anything is written and
        the call can simply be retried.
        """
        async with self._lock:
            await self._confirm_delivered()
            try:
                applied = await self._writer.apply(cards, fences)
                if applied.changes:
                    await self._publish(applied.changes, cause)
            except BaseException:
                # Redis may have applied (and marked as sent) cards whose records were not
                # sent: under a new producer id the retry makes them again.
                self._writer.renew_feed_producer()
                raise
            return applied

    async def _publish(self, changes: Sequence[FeedChange], cause: Cause) -> None:
        """Queue the records of `changes` with the producer (delivery is not awaited)."""
        by_partition: dict[tuple[str, int], Records] = defaultdict(list)
        users: list[tuple[str, int]] = []
        for change in changes:
            card = change.card
            key = card.user_id.encode()
            partition = partition_for(card.user_id, self._partitions)
            moves = crossings(change.level_before, change.level_after, self._thresholds)
            driver = (
                raw_driver(change.replaced, card, self._params, refit=cause == "refit")
                if moves
                else ""
            )
            for crossing in moves:
                crossed = ThresholdRecord(
                    card.user_id,
                    crossing.threshold,
                    crossing.direction,
                    change.score,
                    change.previous,
                    card.updated_at_ms,
                    cause,
                    driver,
                )
                by_partition[(self._thresholds_topic, partition)].append((key, crossed.to_json()))
            record = ScoreRecord(
                card.user_id,
                change.score,
                change.previous,
                float(card.raw),
                card.style,
                card.model_version,
                card.curve_version,
                card.updated_at_ms,
                cause,
                card.influential_about,
            )
            by_partition[(self._scores_topic, partition)].append((key, record.to_json()))
            users.append((card.user_id, card.updated_at_ms))
        sent = [
            _Sent(topic, partition, records, await self._send(topic, partition, records))
            for (topic, partition), records in by_partition.items()
        ]
        self._in_flight.append(_InFlight(users, sent))

    async def _confirm_delivered(self) -> None:
        """Confirm the writes whose records all reached the broker; send failed ones again."""
        delivered: list[tuple[str, int]] = []
        waiting: list[_InFlight] = []
        for flight in self._in_flight:
            for sent in flight.sent:
                if all(d.future.done() for d in sent.deliveries) and any(
                    d.failed() for d in sent.deliveries
                ):
                    # Past the producer's own retries; sending again may put these records
                    # after later ones of the same users (docs/guarantees.md "Score feed").
                    log.warning(
                        "%d feed records for %s[%d] not delivered; sending them again",
                        len(sent.records),
                        sent.topic,
                        sent.partition,
                    )
                    sent.deliveries = await self._send(sent.topic, sent.partition, sent.records)
            if all(d.future.done() for sent in flight.sent for d in sent.deliveries):
                delivered.extend(flight.users)
            else:
                waiting.append(flight)
        self._in_flight = waiting
        await self._writer.confirm_feed(delivered)
