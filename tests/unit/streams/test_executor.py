"""BatchScorer with fakes at its I/O edges: a batch carried out in parts is scored once, its
actors weigh with the standing the batch gave them, unscored users always stay cached, and a
batch's score write runs behind the next batch.

The real Kafka and Redis path is in tests/integration/pipeline and tests/reliability.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest

from app.kafka.topics import partition_for
from app.scoring.card import ScoreCard
from app.scoring.events import Kind
from streams.executor import BatchScorer
from streams.state import StateCache
from tests.support.executor import Redis, batch_scorer
from tests.support.scoring import T0
from tests.support.table import RecordingTable

PARTITIONS = 8


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: object = ()


def scorer(redis: Redis, capacity: int, part_events: int) -> BatchScorer:
    states = StateCache(RecordingTable(), capacity)
    states.assign(range(PARTITIONS), 1)
    return batch_scorer(
        states,
        redis,
        kinds={"likes": Kind.LIKE},
        partitions=PARTITIONS,
        part_events=part_events,
        now_ms=T0,
    )


def same_partition_users(count: int) -> list[str]:
    """`count` user ids on one partition, so one partition's messages may target them all."""
    users = [f"u{i}" for i in range(1000)]
    home = partition_for(users[0], PARTITIONS)
    return [u for u in users if partition_for(u, PARTITIONS) == home][:count]


def like(offset: int, target: str, actor: str) -> SimpleNamespace:
    """A single-event message as Faust hands it to the agent (an event with a `.message`)."""
    doc = {
        "event_id": f"e{offset}",
        "network": "twitter",
        "actor_id": actor,
        "target_id": target,
        "post_id": None,
        "ts": T0 - 1000,
    }
    home = partition_for(target, PARTITIONS)
    return SimpleNamespace(message=Msg("likes", home, offset, orjson.dumps(doc), target.encode()))


async def test_a_batch_in_parts_writes_one_card_per_user_graded_with_the_batchs_standings() -> None:
    bob, carol = same_partition_users(2)
    redis = Redis()
    redis.raws[bob] = 0.5  # an older card of bob's
    batch = [like(0, bob, "fan1"), like(1, bob, "fan2"), like(2, carol, bob), like(3, bob, "fan3")]
    batch_scorer = scorer(redis, capacity=10, part_events=1)
    await batch_scorer.process(cast(Any, batch))
    await batch_scorer.settle()
    # four parts, one write: every user's card once, with all of its events
    assert len(redis.writes) == 1
    cards = {card.user_id: card for card in redis.writes[0]}
    assert set(cards) == {bob, carol}
    assert cards[bob].engagers == 3
    # bob's standing as carol's actor came from his state (two likes so far), not from Redis
    assert all(bob not in asked for asked in redis.looked_up)
    assert ["fan1"] in redis.looked_up


async def test_unscored_users_are_written_before_the_cache_would_evict_them() -> None:
    users = same_partition_users(5)
    redis = Redis()
    batch = [like(offset, user, "fan") for offset, user in enumerate(users)]
    batch_scorer = scorer(redis, capacity=3, part_events=1)
    await batch_scorer.process(cast(Any, batch))
    await batch_scorer.settle()
    assert [[card.user_id for card in write] for write in redis.writes] == [users[:3], users[3:]]


class HeldWrites:
    """The fake Redis's card write, held until `release` (Redis busy or away)."""

    def __init__(self, redis: Redis) -> None:
        self.released = asyncio.Event()
        self._write = redis.write
        redis.write = self.write  # type: ignore[method-assign]

    async def write(
        self, cards: Sequence[ScoreCard], cause: str, fences: Mapping[str, int] | None = None
    ) -> None:
        await self.released.wait()
        await self._write(cards, cause, fences)


async def test_the_next_batch_is_folded_while_the_last_write_is_in_flight() -> None:
    bob, carol = same_partition_users(2)
    redis = Redis()
    redis.raws[bob] = 0.5  # an older card of bob's
    held = HeldWrites(redis)
    batch_scorer = scorer(redis, capacity=10, part_events=10)
    await batch_scorer.process(cast(Any, [like(0, bob, "fan1"), like(1, bob, "fan2")]))
    assert redis.writes == []  # the write is in flight

    second = asyncio.create_task(batch_scorer.process(cast(Any, [like(2, carol, bob)])))
    await asyncio.sleep(0.01)
    # folded already, bob weighing with his card in flight: never asked of Redis
    assert not second.done()
    assert all(bob not in asked for asked in redis.looked_up)
    assert redis.writes == []  # the second write waits for the first

    held.released.set()
    await second
    await batch_scorer.settle()
    assert [[card.user_id for card in write] for write in redis.writes] == [[bob], [carol]]


async def test_busy_for_counts_a_batch_held_up_by_the_write_before_it() -> None:
    """The reseek timer reads it to tell a held-up agent from a stalled partition."""
    (bob,) = same_partition_users(1)
    redis = Redis()
    held = HeldWrites(redis)
    batch_scorer = scorer(redis, capacity=10, part_events=1)
    await batch_scorer.process(cast(Any, [like(0, bob, "fan1")]))
    assert batch_scorer.busy_for() == 0.0  # its write is in flight, the agent is not held

    second = asyncio.create_task(batch_scorer.process(cast(Any, [like(1, bob, "fan2")])))
    await asyncio.sleep(0.05)
    assert batch_scorer.busy_for() >= 0.05

    held.released.set()
    await second
    await batch_scorer.settle()
    assert batch_scorer.busy_for() == 0.0
    assert len(redis.writes) == 2


async def test_a_failed_write_fails_every_settle_and_the_next_batch() -> None:
    """So no commit vouches for its batch once the agent has acknowledged it."""
    (bob,) = same_partition_users(1)
    redis = Redis()

    async def refused(
        cards: Sequence[ScoreCard], cause: str, fences: Mapping[str, int] | None = None
    ) -> None:
        raise ValueError("card for bob has a non-finite score or raw")

    redis.write = refused  # type: ignore[method-assign]
    batch_scorer = scorer(redis, capacity=10, part_events=1)
    await batch_scorer.process(cast(Any, [like(0, bob, "fan1")]))
    for _ in range(2):
        with pytest.raises(ValueError, match="non-finite"):
            await batch_scorer.settle()
    with pytest.raises(ValueError, match="non-finite"):
        await batch_scorer.process(cast(Any, [like(1, bob, "fan2")]))
