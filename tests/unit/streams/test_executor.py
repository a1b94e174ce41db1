"""BatchScorer with fakes at its I/O edges: a batch carried out in parts is scored once, its
actors weigh with the standing the batch gave them, and unscored users always stay cached.

The real Kafka and Redis path is in tests/integration/pipeline and tests/reliability.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import orjson

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
    await scorer(redis, capacity=10, part_events=1).process(cast(Any, batch))
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
    await scorer(redis, capacity=3, part_events=1).process(cast(Any, batch))
    assert [[card.user_id for card in write] for write in redis.writes] == [users[:3], users[3:]]


async def test_busy_for_counts_only_while_a_batch_is_in_hand() -> None:
    """The reseek timer reads it to tell a held-up agent from a stalled partition."""
    (bob,) = same_partition_users(1)
    redis = Redis()
    batch_scorer = scorer(redis, capacity=10, part_events=1)
    seen_during: list[float] = []
    write = redis.write

    async def timed_write(
        cards: Sequence[ScoreCard], cause: str, fences: Mapping[str, int] | None = None
    ) -> None:
        await asyncio.sleep(0.05)
        seen_during.append(batch_scorer.busy_for())
        await write(cards, cause, fences)

    redis.write = timed_write  # type: ignore[method-assign]
    assert batch_scorer.busy_for() == 0.0
    await batch_scorer.process(cast(Any, [like(0, bob, "fan1")]))

    assert len(seen_during) == 1
    assert seen_during[0] >= 0.05
    assert batch_scorer.busy_for() == 0.0
