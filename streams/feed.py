"""The worker's side of the score feed: records for the changes its Redis writes applied.

The writer's script decides, atomically with each card, whether the card needs a feed record
(its visible score changed, or an earlier record may have died with its producer) and returns
the threshold levels before and after (app/store/writer.py). This module sends those records
with the worker's producer in the same batch, before `process` returns, so Faust's flush before
every offset commit delivers them before the events that caused them are acknowledged.

Once a user's records are delivered, the next `publish` confirms them in Redis; a record never
confirmed (the worker died first) is made again by the next write of that user by another
producer, e.g. the replay of the uncommitted batch (docs/guarantees.md "Score feed").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from app.feed import Cause, ScoreRecord, ThresholdRecord
from app.scoring.card import ScoreCard
from app.scoring.thresholds import crossings
from app.store.writer import Applied, FeedChange, ScoreWriter

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]
"""(topic, key, value) -> once queued, an asyncio future that resolves when the broker has it."""


@dataclass(slots=True)
class _InFlight:
    user_id: str
    updated_at: int
    sends: list[tuple[str, bytes, asyncio.Future[object]]]  # (topic, value, delivery)


class FeedProducer:
    """Writes cards to Redis and sends the feed records of what they changed.

    The executor, the decay sweep and the re-score after a refit all write through one
    `FeedProducer`, which holds a lock from the Redis write until its records are queued with the
    producer: a user's records then reach the topic in the order Redis applied its cards.
    """

    def __init__(
        self,
        *,
        send: Send,
        writer: ScoreWriter,
        scores_topic: str,
        thresholds_topic: str,
        thresholds: Sequence[float],
    ) -> None:
        self._send = send
        self._writer = writer
        self._scores_topic = scores_topic
        self._thresholds_topic = thresholds_topic
        self._thresholds = tuple(thresholds)
        self._in_flight: list[_InFlight] = []
        self._lock = asyncio.Lock()

    async def write(self, cards: Sequence[ScoreCard], cause: Cause) -> Applied:
        """Apply `cards` to Redis, then queue the feed records of the changes they made.

        Confirms earlier records first, so a Redis error raises before anything is written and
        the call can simply be retried.
        """
        async with self._lock:
            await self._confirm_delivered()
            applied = await self._writer.apply(cards)
            await self._publish(applied.changes, cause)
            return applied

    async def _publish(self, changes: Sequence[FeedChange], cause: Cause) -> None:
        """Queue the records of `changes` with the producer (delivery is not awaited)."""
        for change in changes:
            card = change.card
            key = card.user_id.encode()
            sends: list[tuple[str, bytes]] = [
                (
                    self._thresholds_topic,
                    ThresholdRecord(
                        card.user_id,
                        crossing.threshold,
                        crossing.direction,
                        change.score,
                        change.previous,
                        card.updated_at_ms,
                        cause,
                    ).to_json(),
                )
                for crossing in crossings(change.level_before, change.level_after, self._thresholds)
            ]
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
            )
            sends.append((self._scores_topic, record.to_json()))
            queued = [
                (topic, value, await self._queue(topic, key, value)) for topic, value in sends
            ]
            self._in_flight.append(_InFlight(card.user_id, card.updated_at_ms, queued))

    async def _queue(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[object]:
        return cast("asyncio.Future[object]", await self._send(topic, key, value))

    async def _confirm_delivered(self) -> None:
        """Confirm the users whose records all reached the broker; send failed ones again."""
        delivered: list[tuple[str, int]] = []
        waiting: list[_InFlight] = []
        for flight in self._in_flight:
            if not all(future.done() for _, _, future in flight.sends):
                waiting.append(flight)
                continue
            for index, (topic, value, future) in enumerate(flight.sends):
                if future.cancelled() or future.exception() is not None:
                    log.warning("feed record for %r not delivered; sending it again", topic)
                    retry = await self._queue(topic, flight.user_id.encode(), value)
                    flight.sends[index] = (topic, value, retry)
            if all(future.done() for _, _, future in flight.sends):
                delivered.append((flight.user_id, flight.updated_at))
            else:
                waiting.append(flight)
        self._in_flight = waiting
        await self._writer.confirm_feed(delivered)
