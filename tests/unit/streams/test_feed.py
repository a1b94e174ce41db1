"""FeedProducer with a fake writer and producer: what it sends, and when it confirms.

The real writer and broker are in tests/integration/pipeline/test_score_feed.py; these cases pin
the producer-side rules that a real broker rarely shows (a failed delivery, a slow one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from app.scoring.card import ScoreCard
from app.store.writer import Applied, FeedChange
from streams.feed import FeedProducer
from tests.integration.store.helpers import make_card

THRESHOLDS = (40.0, 50.0)


class FakeWriter:
    """Applies every card as a change given by `changes`; records confirmations."""

    def __init__(self) -> None:
        self.next: list[FeedChange] = []
        self.confirmed: list[tuple[str, int]] = []

    async def apply(self, cards: Sequence[ScoreCard]) -> Applied:
        return Applied(len(cards), self.next)

    async def confirm_feed(self, delivered: Sequence[tuple[str, int]]) -> None:
        self.confirmed.extend(delivered)


class FakeProducer:
    """Queues records with futures the test resolves."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, object], asyncio.Future[object]]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, key, orjson.loads(value), future))
        return future


def producer_for(writer: FakeWriter, producer: FakeProducer) -> FeedProducer:
    return FeedProducer(
        send=producer.send,
        writer=writer,  # type: ignore[arg-type]
        scores_topic="scores",
        thresholds_topic="thresholds",
        thresholds=THRESHOLDS,
    )


async def test_a_change_sends_its_crossings_and_its_score_keyed_by_user() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    card = make_card("alice", 52.0, 4.0, 1_000)
    writer.next = [FeedChange(card, 52.0, 38.0, 0, 2)]
    applied = await feed.write([card], "decay")
    assert applied.count == 1
    assert [(topic, key, value["threshold"]) for topic, key, value, _ in producer.sent[:2]] == [
        ("thresholds", b"alice", 40.0),
        ("thresholds", b"alice", 50.0),
    ]
    topic, key, record, _ = producer.sent[2]
    assert (topic, key) == ("scores", b"alice")
    assert record == {
        "user_id": "alice",
        "score": 52.0,
        "previous": 38.0,
        "raw": 4.0,
        "style": card.style,
        "model_version": card.model_version,
        "curve_version": card.curve_version,
        "updated_at": 1_000,
        "cause": "decay",
    }


async def test_confirmed_only_once_every_record_of_the_change_is_delivered() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    card = make_card("bob", 45.0, 3.0, 2_000)
    writer.next = [FeedChange(card, 45.0, 30.0, 0, 1)]
    await feed.write([card], "event")
    crossing, score = producer.sent[0][3], producer.sent[1][3]
    writer.next = []
    score.set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == []  # the crossing is still in flight
    crossing.set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == [("bob", 2_000)]
    await feed.write([], "event")
    assert writer.confirmed == [("bob", 2_000)]  # confirmed once


async def test_a_failed_delivery_is_sent_again_before_confirming() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    card = make_card("carol", 20.0, 1.0, 3_000)
    writer.next = [FeedChange(card, 20.0, None, 0, 0)]
    await feed.write([card], "event")
    writer.next = []
    producer.sent[0][3].set_exception(RuntimeError("broker said no"))
    await feed.write([], "event")
    assert writer.confirmed == []
    assert len(producer.sent) == 2
    topic, key, record, retry = producer.sent[1]
    assert (topic, key, record) == producer.sent[0][:3]
    retry.set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == [("carol", 3_000)]
