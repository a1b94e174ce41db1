"""What a worker left behind, read from Redis and Kafka, and compared with the exact outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.scoring.model import (
    DEFAULT_CURVE,
    ModelParams,
    score_card,
)
from app.scoring.signals import UserSignals
from app.store.keys import RedisKeys
from tests.support.feed import feed_ends_on_cards
from tests.support.traffic import Traffic
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, committed_and_ends

FLOAT_TOLERANCE = 1e-6
"""How far a stored float may be from the exact expectation (the issue's "within 1e-6")."""


async def read_cards(
    client: aioredis.Redis, settings: Settings, users: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Every stored card of `users` (absent users are left out); `client` decodes responses."""
    users = list(users)
    keys = RedisKeys(settings.redis_key_prefix)
    pipe = client.pipeline(transaction=False)
    for user in users:
        pipe.hgetall(keys.user(user))
    found = await pipe.execute()
    return {user: card for user, card in zip(users, found, strict=True) if card}


def card_mismatches(
    cards: dict[str, dict[str, str]], expected: dict[str, UserSignals], params: ModelParams
) -> list[str]:
    """How stored cards differ from the exact expectation, each card judged at its own time.

    A stored card is the model's card of the user's state at `updated_at`; the expected card is
    the same function of the exact expected state at the same instant. Counts must be equal,
    floats within `FLOAT_TOLERANCE`.
    """
    problems: list[str] = []
    for user, state in sorted(expected.items()):
        stored = cards.get(user)
        if stored is None:
            problems.append(f"{user}: no card")
            continue
        at = int(stored["updated_at"])
        want = score_card(user, state, at, params, DEFAULT_CURVE)
        got_components = orjson.loads(stored["components"])
        for kind in set(want.components) | set(got_components):
            w, g = want.components.get(kind, {}), got_components.get(kind, {})
            for network in set(w) | set(g):
                if not _close(w.get(network), g.get(network)):
                    problems.append(
                        f"{user}: {kind}/{network} {g.get(network)!r}, expected {w.get(network)!r}"
                    )
        if not _close(want.raw, float(stored["raw"])):
            problems.append(f"{user}: raw {stored['raw']}, expected {want.raw!r}")
        if int(stored["engagers"]) != want.engagers:
            problems.append(f"{user}: engagers {stored['engagers']}, expected {want.engagers}")
        if float(stored["score"]) != want.score:
            problems.append(f"{user}: score {stored['score']}, expected {want.score}")
        got_top = orjson.loads(stored["top_actors"])
        want_top = [[a.actor_id, a.contribution] for a in want.top_actors]
        if [a for a, _ in got_top] != [a for a, _ in want_top] or not all(
            _close(g, w) for (_, g), (_, w) in zip(got_top, want_top, strict=True)
        ):
            problems.append(f"{user}: top actors {got_top}, expected {want_top}")
    return problems


async def wait_for_exact_cards(
    client: aioredis.Redis,
    settings: Settings,
    traffic: Traffic,
    *,
    deadline_s: float = 180.0,
    alive: Iterable[Any] = (),
) -> None:
    """Wait until every target's card equals the exact expectation and every counted event has
    exactly one recorded first sighting; fail at the deadline with the differences."""
    params = settings.model_params()
    expected = traffic.expected_states(params)
    deadline = time.monotonic() + deadline_s
    while True:
        for worker in alive:
            worker.assert_alive()
        cards = await read_cards(client, settings, traffic.targets)
        problems = card_mismatches(cards, expected, params)
        seen = len(await seen_positions(client, settings))
        if seen != len(traffic.counted):
            problems.append(f"{seen} first sightings recorded for {len(traffic.counted)} events")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(problems)} differences, first: {problems[:10]}")
        await asyncio.sleep(1.0)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= FLOAT_TOLERANCE


async def seen_positions(client: aioredis.Redis, settings: Settings) -> list[tuple[str, int, int]]:
    """Every (topic, partition, offset) the deduplicator recorded as an event's first sighting
    (an envelope item's record also names its index, left out here)."""
    keys = [
        key async for key in client.scan_iter(f"{settings.redis_key_prefix}:seen:*", count=1000)
    ]
    positions: list[tuple[str, int, int]] = []
    for chunk in _chunks(keys, 1000):
        for value in await client.mget(chunk):
            if value is not None:
                topic, partition, offset = value.split(":")[:3]  # topic names hold no ":"
                positions.append((topic, int(partition), int(offset)))
    return positions


async def assert_counted_once_and_feed_on_cards(
    client: aioredis.Redis, settings: Settings, counted: int
) -> None:
    """What a crash test checks beside exact cards: exactly one first sighting recorded per
    counted event (every duplicate dropped, no event recorded at two positions), and each user's
    last score feed record equal to its final Redis card (a replay or a retried write may repeat
    records, never leave one out)."""
    assert len(await seen_positions(client, settings)) == counted
    await eventually(
        lambda: feed_ends_on_cards(settings),
        deadline_s=60,
        what="every user's last feed record to equal its final Redis score",
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def group_members(settings: Settings) -> dict[str, set[tuple[str, int]]]:
    """The group's members and the partitions each one owns (DescribeGroups)."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([settings.app_id])
    finally:
        await admin.close()
    group = described[0].to_object()["groups"][0]
    members: dict[str, set[tuple[str, int]]] = {}
    for member in group["members"]:
        owned: set[tuple[str, int]] = set()
        if member["member_assignment"]:
            assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            owned = {(tp.topic, tp.partition) for tp in assignment.partitions()}
        members[member["member_id"]] = owned
    return members


async def in_flight(
    client: aioredis.Redis, settings: Settings, owned: set[tuple[str, int]], topics: list[str]
) -> int:
    """Events on `owned` partitions the worker has started to apply but not yet committed.

    The deduplicator records an event's position before its effects are applied; a recorded
    position at or beyond the group's committed offset is work a crash now would leave to be
    redone by whoever gets the partition next.
    """
    committed, _ = await committed_and_ends(settings, topics)
    by_tp = {(tp.topic, tp.partition): offset for tp, offset in committed.items()}
    return sum(
        1
        for topic, partition, offset in await seen_positions(client, settings)
        if (topic, partition) in owned and offset >= by_tp.get((topic, partition), 0)
    )


LOST_DELIVERY_SIGNS = (
    "seeking back",  # the in-order gate found a hole or a stalled partition
    "fetched records not delivered (read_offset)",  # Faust's fetch loop dropped them
)


def assert_faust_lost_no_delivery(*workers: WorkerProcess) -> None:
    """Faust delivered every record in offset order: the in-order gate never had to seek a
    partition back, and Faust's fetch loop dropped none below its read offset (the delivery
    defects fixed in streams/faust_compat.py's `WorkerConsumer`; the gate and the stall rule
    recover such losses, this says none happened)."""
    signs = [
        f"{worker.log_path.name}: {line}"
        for worker in workers
        for line in worker.log_path.read_text(errors="replace").splitlines()
        if any(sign in line for sign in LOST_DELIVERY_SIGNS)
    ]
    assert signs == [], "\n".join(signs[:20])
