"""The score feed's records and `ScoreFeed`, a Kafka consumer that follows them.

The worker writes one `ScoreRecord` to `Settings.topic_scores` (compacted, keyed by user id) per
visible score change, and one `ThresholdRecord` to `Settings.topic_score_thresholds` per threshold
crossing (README "Score feed"). Both are JSON objects, so any Kafka client can read them; this
module is their one definition, used by the worker to write and by `ScoreFeed` to read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Self

import orjson
from aiokafka import AIOKafkaConsumer

from app.core.lifecycle import AsyncClosing
from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.scoring.card import TopicInfluence
from app.scoring.thresholds import Direction

Cause = Literal["event", "decay", "refit"]
"""Why a score was rewritten: new engagement, the decay sweep, or a curve refit."""


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """A user's visible score changed (`previous` None: the user's first score).

    `influential_about` is the card's list of topics (docs/redis.md "Topics"); a record from a
    worker older than topics has none.
    """

    user_id: str
    score: float
    previous: float | None
    raw: float
    style: str
    model_version: str
    curve_version: int
    updated_at: int  # ms since the epoch, as the Redis card's `updated_at`
    cause: Cause
    influential_about: tuple[TopicInfluence, ...] = ()

    def to_json(self) -> bytes:
        """The record's value on the topic (orjson encodes dataclasses natively)."""
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, value: bytes) -> ScoreRecord:
        """Decode a value of the scores topic; raises ValueError/TypeError on anything else."""
        fields = _object(value)
        about = fields.pop("influential_about", [])
        if not isinstance(about, list):
            raise TypeError("influential_about is a JSON array")
        return cls(**fields, influential_about=tuple(TopicInfluence(**t) for t in about))


@dataclass(frozen=True, slots=True)
class ThresholdRecord:
    """A user's visible score crossed `threshold` (hysteresis applied, app/scoring/thresholds)."""

    user_id: str
    threshold: float
    direction: Direction
    score: float
    previous: float | None
    updated_at: int
    cause: Cause
    # One line saying what drove the crossing, against the card it replaced: "driven by +12.3
    # raw of new shares on instagram", "decay while quiet", "..., and a curve refit"
    # (app/scoring/attribution.py, `raw_driver`); "" in records of workers before it.
    driver: str = ""

    def to_json(self) -> bytes:
        """The record's value on the topic (orjson encodes dataclasses natively)."""
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, value: bytes) -> ThresholdRecord:
        """Decode a value of the thresholds topic; raises ValueError/TypeError on anything else."""
        return cls(**_object(value))


def _object(value: bytes) -> dict[str, Any]:
    decoded = orjson.loads(value)
    if not isinstance(decoded, dict):
        raise ValueError("a feed record is a JSON object")
    return decoded


class ScoreFeed(AsyncClosing):
    """Follows the score feed: `async for record in feed` yields records as the worker makes them.

    Without `group` the feed reads every partition on its own and commits nothing; it starts at
    the end, or at the beginning with `from_beginning` (the compacted topic then replays every
    user's latest score, then follows). With `group` it joins that consumer group and resumes
    from the group's committed offsets (`from_beginning` applies only to a group with none);
    call `commit()` after handling records, for at-least-once handling. `thresholds=True` follows
    the threshold crossings instead of the score changes.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        group: str | None = None,
        from_beginning: bool = False,
        thresholds: bool = False,
    ) -> None:
        self.topic = settings.topic_score_thresholds if thresholds else settings.topic_scores
        self._decode = ThresholdRecord.from_json if thresholds else ScoreRecord.from_json
        self._consumer = AIOKafkaConsumer(
            self.topic,
            **aiokafka_kwargs(settings),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            client_id="clout-feed",
        )

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        return self

    async def aclose(self) -> None:
        """Leave the group (if any) and close the consumer."""
        await self._consumer.stop()

    def __aiter__(self) -> AsyncIterator[ScoreRecord | ThresholdRecord]:
        return self._records()

    async def _records(self) -> AsyncIterator[ScoreRecord | ThresholdRecord]:
        async for message in self._consumer:
            if message.value is not None:  # a tombstone, should anyone compact a user away
                yield self._decode(message.value)

    async def commit(self) -> None:
        """Commit the group's position after the records yielded so far (needs `group`)."""
        await self._consumer.commit()
