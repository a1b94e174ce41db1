"""The offline replay is the worker's step: the same batches give the executor's dead letters,
states and scores, with Kafka and Redis held in memory."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from app.scoring.events import Kind
from app.scoring.model import DEFAULT_CURVE, ModelParams, actor_weight, score_from_raw
from app.simulation import generate_events, population_stats, replay, replay_states
from app.simulation.replay import ROUTING, WORKER_BATCH_EVENTS, Record, records
from app.step.plan import Position
from streams.executor import DUPLICATE_REASON
from streams.state import StateCache
from tests.support.executor import DeadLetters, Redis, batch_scorer
from tests.support.scoring import DAY, T0
from tests.support.table import RecordingTable

P = ModelParams()


def wire(event_id: str, actor: str, target: str, ts: int = T0) -> dict[str, object]:
    return {
        "event_id": event_id,
        "network": "twitter",
        "actor_id": actor,
        "target_id": target,
        "post_id": None,
        "ts": ts,
    }


def test_a_replay_validates_dedupes_and_weighs_actors_by_their_stored_score() -> None:
    first_batch: list[tuple[Kind, object]] = [
        (Kind.LIKE, wire("1", "carol", "alice")),
        (Kind.LIKE, wire("1", "carol", "alice")),  # retry
        (Kind.LIKE, wire("2", "alice", "alice")),  # self-engagement
        (Kind.LIKE, {"event_id": "3"}),
    ]
    filler: list[tuple[Kind, object]] = [
        (Kind.LIKE, wire(f"f{i}", f"fan{i}", "dave"))
        for i in range(WORKER_BATCH_EVENTS - len(first_batch))
    ]
    second_batch: list[tuple[Kind, object]] = [(Kind.SHARE, wire("4", "alice", "bob", T0 + 1000))]
    result = replay_states(first_batch + filler + second_batch, P, T0 + 1000)

    assert result.accepted == 2 + len(filler)
    assert result.repeated == [Position("like", 0, 1)]
    assert result.duplicates == 1
    assert result.refused == [
        (Position("like", 0, 2), "self-engagement"),
        (Position("like", 0, 3), "missing field: network"),
    ]
    assert result.invalid == {"self-engagement": 1, "missing field: network": 1}
    # Carol has no score: alice gets the floor weight. Her card, written with the first batch,
    # is her standing when the second batch counts her share.
    assert result.scores["alice"] == score_from_raw(result.raws["alice"], DEFAULT_CURVE)
    alice_score = score_from_raw(result.raws["alice"], DEFAULT_CURVE)
    assert actor_weight(alice_score, P) > P.actor_weight_floor
    bob_raw = result.states["bob"].raw_at(T0 + 1000, P)
    assert bob_raw == pytest.approx(P.share_weight * actor_weight(alice_score, P))
    cards = replay(first_batch + filler + second_batch, P, T0 + 1000)
    assert set(cards) == {"alice", "bob", "dave"}
    assert cards == result.cards(T0 + 1000, P)
    assert {user: card.raw for user, card in cards.items()} == result.raws


def test_records_are_one_partitions_topics_by_kind_at_consecutive_offsets() -> None:
    stream = list(records([(Kind.LIKE, {"a": 1}), (Kind.SHARE, {"b": 2}), (Kind.LIKE, [{"c": 3}])]))
    assert stream == [
        Record("like", 0, b'{"a":1}'),
        Record("share", 0, b'{"b":2}'),
        Record("like", 1, b'[{"c":3}]'),
    ]
    assert {record.partition for record in stream} == {0}
    assert set(ROUTING.kind_of_topic) == {kind.value for kind in Kind}


def test_population_stats_definitions() -> None:
    events = [(Kind.LIKE, wire(str(i), f"a{i}", f"t{i % 40}")) for i in range(400)]
    cards = replay(events, P, T0)
    stats = population_stats(cards)
    assert stats.active == 40
    assert stats.top_0_1pct_min == stats.max
    assert sum(stats.styles.values()) == 40
    with pytest.raises(ValueError, match="no active"):
        population_stats({})


def hostile_population(end_ms: int) -> list[tuple[Kind, object]]:
    """A small population over several batches, with refusals and re-sent ids mixed in."""
    events: list[tuple[Kind, object]] = list(
        generate_events(300, 2 * WORKER_BATCH_EVENTS + 500, 3, end_ms)
    )
    odd: list[tuple[Kind, object]] = [
        (Kind.LIKE, wire("self", "u1", "u1", end_ms - DAY)),
        (Kind.SHARE, {"event_id": "partial"}),
        (Kind.MENTION, wire("old", "u1", "u2", end_ms - 200 * DAY)),
        (Kind.LIKE, wire("future", "u1", "u2", end_ms + DAY)),
        (Kind.LIKE, "not an object"),
    ]
    for i, extra in enumerate(odd):
        events.insert(700 * (i + 1), extra)
    resent = events[WORKER_BATCH_EVENTS - 10]  # its id again, in the next batch
    events.insert(WORKER_BATCH_EVENTS + 100, resent)
    return events


def as_sources(batch: Sequence[Record]) -> list[Any]:
    """A batch as Faust hands it to the agent: events with a `.message`."""
    return [
        SimpleNamespace(
            message=SimpleNamespace(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                value=r.value,
                key=None,
                headers=r.headers,
            )
        )
        for r in batch
    ]


async def test_the_replay_is_the_worker_executor_on_the_same_batches() -> None:
    end_ms = T0
    events = hostile_population(end_ms)
    states = StateCache(RecordingTable(), capacity=100_000)
    states.assign([0], 1)
    redis, sent = Redis(), DeadLetters()
    scorer = batch_scorer(
        states,
        redis,
        kinds=ROUTING.kind_of_topic,
        partitions=ROUTING.partitions,
        part_events=WORKER_BATCH_EVENTS,
        now_ms=end_ms,
        dead_letters=sent,
    )
    stream = list(records(events))
    batches = [
        stream[i : i + WORKER_BATCH_EVENTS] for i in range(0, len(stream), WORKER_BATCH_EVENTS)
    ]
    for batch in batches:
        await scorer.process(cast(Any, as_sources(batch)))
    await scorer.settle()  # the last batch's write runs behind the agent

    result = replay_states(events, P, end_ms)

    # the same dead letters, for the same reasons
    def where(headers: dict[str, bytes]) -> tuple[str, int, int | None]:
        index = headers.get("clout-error-index")
        offset = int(headers["clout-error-offset"])
        return headers["clout-error-topic"].decode(), offset, None if index is None else int(index)

    reasons = [(where(h), h["clout-error-reason"].decode()) for h in sent.headers]
    refused = [(w, reason) for w, reason in reasons if reason != DUPLICATE_REASON]
    repeated = [w for w, reason in reasons if reason == DUPLICATE_REASON]
    assert len(refused) == len(result.refused) >= 5
    assert refused == [((p.topic, p.offset, p.index), reason) for p, reason in result.refused]
    assert repeated == [(p.topic, p.offset, p.index) for p in result.repeated]
    assert result.duplicates > 1
    # the same state per user
    assert set(result.stored) >= set(result.states)
    for user, stored in result.stored.items():
        worker = states.peek(user, 0)
        assert worker.applied == stored.applied, user
        assert worker.signals == stored.signals, user
    # the same cards written, batch after batch, and the same scores at the end
    assert len(redis.writes) == len(batches) >= 3
    assert {u: (c.score, c.raw) for u, c in redis.cards.items()} == {
        u: (result.scores[u], result.raws[u]) for u in result.scores
    }
    assert redis.cards == result.cards(end_ms, P)
