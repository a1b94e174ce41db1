"""Deterministic traffic for the reliability tests, its exact expected outcome, and sending it.

The expected outcome is the influence model applied exactly once to every counted event, which
is what one uninterrupted run computes. Traffic is built so that this outcome does not depend on
the order in which the worker interleaves its three input topics (Kafka orders a partition, not
a group of topics): actors have fixed standings (they are never targets), every actor engages a
given target through one topic only (repeat damping is order-dependent), no target has more
engagers than the model tracks (eviction is order-dependent), and all timestamps are recent
(no landmark rebase). Within one topic the order is the partition's, which Kafka keeps.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.kafka.topics import partition_for
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import (
    DEFAULT_CURVE,
    ModelParams,
    raw_for_score,
    score_from_raw,
)
from app.scoring.signals import UserSignals, apply_event
from app.store.leaderboard import Leaderboard

NETWORKS = ("twitter", "instagram", "tiktok")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to produce: topic, key, value, and an explicit partition (None: by key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class Traffic:
    """Messages to send and the events among them that must count exactly once."""

    actors: dict[str, float]
    targets: list[str]
    messages: list[Outgoing] = field(default_factory=list)
    counted: list[tuple[Kind, dict[str, Any]]] = field(default_factory=list)
    duplicates: int = 0
    miskeyed: int = 0

    def then(self, later: Traffic) -> Traffic:
        """This traffic followed by `later` (same targets or not), as one expectation."""
        return Traffic(
            actors={**self.actors, **later.actors},
            targets=sorted(set(self.targets) | set(later.targets)),
            messages=[*self.messages, *later.messages],
            counted=[*self.counted, *later.counted],
            duplicates=self.duplicates + later.duplicates,
            miskeyed=self.miskeyed + later.miskeyed,
        )

    def expected_states(self, params: ModelParams) -> dict[str, UserSignals]:
        """Each target's signals after applying every counted event once (the exact outcome)."""
        standing = {
            actor: score_from_raw(raw_for_score(score, DEFAULT_CURVE), DEFAULT_CURVE)
            for actor, score in self.actors.items()
        }
        states: dict[str, UserSignals] = {}
        for kind, obj in self.counted:
            event = EngagementEvent(
                event_id=obj["event_id"],
                kind=kind,
                network=obj["network"],
                actor_id=obj["actor_id"],
                target_id=obj["target_id"],
                post_id=obj["post_id"],
                ts_ms=obj["ts"],
            )
            target = event.target_id
            states[target] = apply_event(
                states.get(target), event, standing[event.actor_id], params
            )
        return states


def make_traffic(
    settings: Settings,
    *,
    seed: int,
    targets: int,
    actors: int = 40,
    max_engagers: int = 12,
    duplicate_share: float = 0.03,
    miskeyed_share: float = 0.03,
    now_ms: int | None = None,
    tag: str = "",
    actor_tag: str = "",
) -> Traffic:
    """Deterministic engagement traffic over the three input topics of `settings`.

    Each target gets 1..`max_engagers` distinct actors; each (actor, target) pair uses one topic
    and engages 1..3 times (repeats exercise repeat damping), at times within the last two days.
    Some events are re-sent later with the same id (must count once); some single engagements
    are produced to a wrong partition (the worker re-keys them).
    """
    rng = random.Random(seed)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    params = settings.model_params()
    if max_engagers > params.top_actors:
        raise ValueError("more engagers than the model tracks makes the outcome order-dependent")
    actor_ids = {
        f"act{tag}{actor_tag}-{i:03d}": round(rng.uniform(35.0, 92.0), 1) for i in range(actors)
    }
    target_ids = [f"tgt{tag}-{i:04d}" for i in range(targets)]
    topics = {
        Kind.LIKE: settings.topic_likes,
        Kind.SHARE: settings.topic_shares,
        Kind.MENTION: settings.topic_mentions,
    }
    kinds = list(topics)
    traffic = Traffic(actors=actor_ids, targets=target_ids)
    pending: list[tuple[Kind, dict[str, Any], bool]] = []
    for target in target_ids:
        for actor in rng.sample(sorted(actor_ids), rng.randint(1, max_engagers)):
            kind = rng.choice(kinds)
            repeats = rng.choice((1, 1, 1, 2, 3))
            for _ in range(repeats):
                event = {
                    "event_id": f"{seed}-{rng.getrandbits(64):016x}",
                    "network": rng.choice(NETWORKS),
                    "actor_id": actor,
                    "target_id": target,
                    "post_id": rng.choice((None, f"p{rng.randrange(10**6)}")),
                    "ts": now - rng.randrange(60_000, 2 * 86_400_000),
                }
                pending.append((kind, event, repeats == 1))
    # Interleave targets and topics as real traffic would, keeping each pair's own order.
    shuffled = list(range(len(pending)))
    rng.shuffle(shuffled)
    position = {i: rank for rank, i in enumerate(shuffled)}
    by_pair: dict[tuple[str, str], list[int]] = {}
    for i, (_, event, _) in enumerate(pending):
        by_pair.setdefault((event["actor_id"], event["target_id"]), []).append(i)
    for members in by_pair.values():
        ranks = sorted(position[i] for i in members)
        position.update(zip(members, ranks, strict=True))
    sequence = sorted(range(len(pending)), key=position.__getitem__)
    partitions = settings.topic_partitions
    resend: list[Outgoing] = []
    for i in sequence:
        kind, event, single = pending[i]
        value = orjson.dumps(event)
        topic = topics[kind]
        traffic.counted.append((kind, event))
        if single and rng.random() < miskeyed_share:
            right = partition_for(event["target_id"], partitions)
            message = Outgoing(topic, b"wrong-key", value, (right + 1) % partitions)
            traffic.miskeyed += 1
        else:
            message = Outgoing(topic, event["target_id"].encode(), value)
        traffic.messages.append(message)
        if rng.random() < duplicate_share:
            resend.append(Outgoing(topic, event["target_id"].encode(), value))
        if resend and rng.random() < 0.05:
            traffic.messages.append(resend.pop(0))
            traffic.duplicates += 1
    traffic.messages.extend(resend)
    traffic.duplicates += len(resend)
    return traffic


async def produce_all(
    settings: Settings,
    messages: Sequence[Outgoing],
    *,
    pace_per_s: float | None = None,
    producer_kwargs: dict[str, Any] | None = None,
) -> list[tuple[str, int, int]]:
    """Send `messages` in order with one idempotent producer; return each one's position.

    With `pace_per_s`, sending is spread out at about that rate (a stream rather than a burst).
    """
    producer = AIOKafkaProducer(
        **aiokafka_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **(producer_kwargs or {}),
    )
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for n, m in enumerate(messages):
            futures.append(
                await producer.send(
                    m.topic, value=m.value, key=m.key, partition=m.partition, headers=m.headers
                )
            )
            if pace_per_s is not None and n % 200 == 199:
                ahead = (n + 1) / pace_per_s - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
        positions = []
        for future in futures:
            meta = await future
            positions.append((meta.topic, meta.partition, meta.offset))
        return positions
    finally:
        await producer.stop()


async def give_standing(
    client: aioredis.Redis, settings: Settings, actors: dict[str, float]
) -> None:
    """Publish each actor's score on the leaderboard, as the worker reads standings from it."""
    board = Leaderboard(client, settings.redis_key_prefix, settings.leaderboard_shards)
    pipe = client.pipeline(transaction=False)
    board.queue_set(
        pipe, {actor: raw_for_score(score, DEFAULT_CURVE) for actor, score in actors.items()}
    )
    await pipe.execute()
