"""Input written by a transactional producer (Kafka Connect, Flink or Kafka Streams sinks in
exactly-once mode, any producer with a `transactional.id`): commit and abort markers, and the
records of aborted transactions, take offsets that are never delivered to a read_committed
consumer. The worker must step over them without stalling, count committed events once and
aborted ones never.

A real transactional producer (aiokafka's, the Kafka transaction protocol) writes a committed
transaction, an aborted one, and another committed one last (so the partitions it writes end
with its commit marker), while a plain idempotent producer writes between and during them.
Committed users must equal the exact model and their control twins (the same events from the
plain producer); users with only aborted events get no score.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.config import aiokafka_kwargs
from app.scoring.events import Kind
from app.scoring.model import DEFAULT_CURVE, score_card
from app.store.cleanup import delete_prefix
from tests.support.outcome import (
    assert_faust_lost_no_delivery,
    read_cards,
    seen_positions,
    wait_for_exact_cards,
)
from tests.support.traffic import Outgoing, Traffic, give_standing, make_traffic, produce_all
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(300)]

TWIN_TOLERANCE = 1e-9

Sent = list[tuple[str, int, int]]


def twin(kind: Kind, event: dict[str, Any], prefix: str) -> tuple[Kind, dict[str, Any]]:
    """The same engagement under another event id and for another target."""
    return kind, {
        **event,
        "event_id": f"{prefix}-{event['event_id']}",
        "target_id": f"{prefix}-{event['target_id']}",
    }


def outgoing(settings: Settings, kind: Kind, event: dict[str, Any]) -> Outgoing:
    topic = dict(zip(Kind, settings.input_topics, strict=True))[kind]
    return Outgoing(topic, event["target_id"].encode(), orjson.dumps(event))


async def send_in_transaction(
    producer: AIOKafkaProducer, messages: list[Outgoing], *, commit: bool
) -> Sent:
    """One transaction holding `messages`, all written to the log, then committed or aborted."""
    await producer.begin_transaction()
    futures = [await producer.send(m.topic, value=m.value, key=m.key) for m in messages]
    positions = [
        (meta.topic, meta.partition, meta.offset) for meta in await asyncio.gather(*futures)
    ]
    if commit:
        await producer.commit_transaction()
    else:
        await producer.abort_transaction()
    return positions


async def test_transactional_input_counts_committed_events_once_and_aborted_ones_never(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(stack, worker_metrics_port=0, sweep_interval_s=2.0)
    rng = random.Random(61)
    committed = make_traffic(
        settings, seed=61, targets=240, duplicate_share=0.0, miskeyed_share=0.0, tag="c"
    )
    aborted_only = make_traffic(
        settings, seed=62, targets=60, duplicate_share=0.0, miskeyed_share=0.0, tag="a"
    )
    control = [twin(kind, event, "ctl") for kind, event in committed.counted]
    # Aborted events for committed users too: counting one would change their raw.
    stray = [twin(kind, event, "abt") for kind, event in rng.sample(committed.counted, 150)]
    stray = [(k, {**e, "target_id": e["target_id"].removeprefix("abt-")}) for k, e in stray]

    events = committed.counted
    half = len(events) // 2
    part_a, part_b = events[:half], events[half:]
    retried = part_b[: len(part_b) // 3]  # first written in the aborted transaction, then again
    third = len(control) // 3  # contiguous: each pair's repeats keep their order
    thirds = [control[:third], control[third : 2 * third], control[2 * third :]]

    expected = Traffic(
        actors={**committed.actors},
        targets=[*committed.targets, *(f"ctl-{t}" for t in committed.targets)],
        counted=[*events, *control],
    )
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    worker = WorkerProcess(settings, tmp_path)
    producer = AIOKafkaProducer(
        **aiokafka_kwargs(settings),
        transactional_id=f"clout-test-{uuid.uuid4().hex}",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )
    try:
        await give_standing(client, settings, {**committed.actors, **aborted_only.actors})
        worker.start()
        await wait_until_consuming(settings, [worker])
        await producer.start()

        def as_messages(items: list[tuple[Kind, dict[str, Any]]]) -> list[Outgoing]:
            return [outgoing(settings, kind, event) for kind, event in items]

        kept: Sent = []
        thrown: Sent = []
        plain: Sent = []
        # Committed transaction A, with plain control events written while it is open.
        await producer.begin_transaction()
        futures = [
            await producer.send(m.topic, value=m.value, key=m.key) for m in as_messages(part_a)
        ]
        plain += await produce_all(settings, as_messages(thirds[0]))
        kept += [(r.topic, r.partition, r.offset) for r in await asyncio.gather(*futures)]
        await producer.commit_transaction()
        # Aborted transaction: events of users who get nothing else, stray events for committed
        # users, and the first events of part B (retried in the next transaction).
        thrown += await send_in_transaction(
            producer,
            as_messages([*aborted_only.counted, *stray, *retried]),
            commit=False,
        )
        plain += await produce_all(settings, as_messages(thirds[1]))
        plain += await produce_all(settings, as_messages(thirds[2]))
        # Committed transaction B last: the partitions it wrote end with its commit marker, with
        # no later message to show the worker the jump (it steps over the marker once the
        # partition has delivered nothing for a while, streams/ordering.py `find_stalled`).
        kept += await send_in_transaction(producer, as_messages(part_b), commit=True)

        await wait_for_exact_cards(client, settings, expected, deadline_s=180, alive=[worker])

        # The group commits to the end of every partition: past markers and aborted records.
        topics = list(settings.input_topics)
        await wait_caught_up(settings, topics, deadline_s=60, alive=[worker])
        cards = await read_cards(client, settings, aborted_only.targets)
        assert cards == {}, f"users with only aborted events were scored: {sorted(cards)[:5]}"
        seen = set(await seen_positions(client, settings))
        assert len(seen) == len(expected.counted)
        assert seen <= set(kept) | set(plain)
        assert not seen & set(thrown), "an aborted record was counted"

        params = settings.model_params()
        states = expected.expected_states(params)
        twins = await read_cards(client, settings, expected.targets)
        for user in committed.targets:
            for name in (user, f"ctl-{user}"):
                card = twins[name]
                at = int(card["updated_at"])
                want = score_card(name, states[name], at, params, DEFAULT_CURVE).raw
                assert abs(float(card["raw"]) - want) <= TWIN_TOLERANCE, (name, card["raw"], want)
        worker.assert_alive()
        assert_faust_lost_no_delivery(worker)
    finally:
        await producer.stop()
        worker.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
