"""FeedProducer with a fake writer and producer: what it sends, and when it confirms.

The real writer and broker are in tests/integration/pipeline/test_score_feed.py; these cases pin
the producer-side rules that a real broker rarely shows (a failed delivery, a slow one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson
import pytest

from app.kafka.topics import partition_for
from app.scoring.attribution import Snapshot
from app.scoring.card import ScoreCard, TopicInfluence
from app.scoring.decay import MS_PER_DAY
from app.scoring.params import ModelParams
from app.store.writer import Applied, FeedChange
from streams.feed import FeedProducer
from streams.record_batches import Delivery, Records
from tests.support.cards import make_card

THRESHOLDS = (40.0, 50.0)
PARTITIONS = 8


class FakeWriter:
    """Applies every card as a change given by `changes`; records confirmations."""

    def __init__(self) -> None:
        self.next: list[FeedChange] = []
        self.confirmed: list[tuple[str, int]] = []
        self.fail: Exception | None = None
        self.renewed = 0
        self.fences: dict[str, int] = {}

    async def apply(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int] | None = None
    ) -> Applied:
        self.fences = dict(fences or {})
        if self.fail is not None:
            raise self.fail
        return Applied(len(cards), self.next)

    def renew_feed_producer(self) -> None:
        self.renewed += 1

    async def confirm_feed(self, delivered: Sequence[tuple[str, int]]) -> None:
        self.confirmed.extend(delivered)


class FakeProducer:
    """Takes record groups with one future each, which the test resolves."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, dict[str, object]]]]] = []
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, partition: int, records: Records) -> list[Delivery]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, [(k, orjson.loads(v)) for k, v in records]))
        self.futures.append(future)
        return [Delivery(future, len(records))]


def producer_for(writer: FakeWriter, producer: FakeProducer) -> FeedProducer:
    return FeedProducer(
        send=producer.send,
        writer=writer,  # type: ignore[arg-type]
        scores_topic="scores",
        thresholds_topic="thresholds",
        thresholds=THRESHOLDS,
        partitions=PARTITIONS,
        params=ModelParams(),
    )


async def test_a_change_sends_its_crossings_and_its_score_keyed_by_user() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    coffee = TopicInfluence("coffee", 0.75, 3.0, 61.5, "topic")
    card = replace(make_card("alice", 52.0, 4.0, 1_000), influential_about=(coffee,))
    writer.next = [FeedChange(card, 52.0, 38.0, 0, 2)]
    applied = await feed.write([card], "decay", {"alice": 7})
    assert applied.count == 1
    assert writer.fences == {"alice": 7}  # the fencing tokens reach the writer
    partition = partition_for("alice", PARTITIONS)  # where Kafka's default partitioner puts it
    crossed, scored = producer.sent
    assert crossed[:2] == ("thresholds", partition)
    assert [(key, record["threshold"], record["direction"]) for key, record in crossed[2]] == [
        (b"alice", 40.0, "up"),
        (b"alice", 50.0, "up"),
    ]
    assert scored[:2] == ("scores", partition)
    assert scored[2] == [
        (
            b"alice",
            {
                "user_id": "alice",
                "score": 52.0,
                "previous": 38.0,
                "raw": 4.0,
                "style": card.style,
                "model_version": card.model_version,
                "curve_version": card.curve_version,
                "updated_at": 1_000,
                "cause": "decay",
                "influential_about": [
                    {"topic": "coffee", "share": 0.75, "raw": 3.0, "score": 61.5, "curve": "topic"}
                ],
            },
        )
    ]


async def test_confirmed_only_once_every_record_of_the_write_is_delivered() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    cards = [make_card("bob", 45.0, 3.0, 2_000), make_card("dan", 12.0, 1.0, 2_000)]
    writer.next = [FeedChange(cards[0], 45.0, 30.0, 0, 1), FeedChange(cards[1], 12.0, None, 0, 0)]
    await feed.write(cards, "event")
    writer.next = []
    for future in producer.futures[1:]:
        future.set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == []  # bob's crossing is still in flight
    producer.futures[0].set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == [("bob", 2_000), ("dan", 2_000)]
    await feed.write([], "event")
    assert writer.confirmed == [("bob", 2_000), ("dan", 2_000)]  # confirmed once


async def test_a_failed_delivery_is_sent_again_before_confirming() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    card = make_card("carol", 20.0, 1.0, 3_000)
    writer.next = [FeedChange(card, 20.0, None, 0, 0)]
    await feed.write([card], "event")
    writer.next = []
    producer.futures[0].set_exception(RuntimeError("broker said no"))
    await feed.write([], "event")
    assert writer.confirmed == []
    assert len(producer.sent) == 2
    assert producer.sent[1] == producer.sent[0]
    producer.futures[1].set_result(None)
    await feed.write([], "event")
    assert writer.confirmed == [("carol", 3_000)]


async def test_nothing_changed_nothing_sent() -> None:
    writer, producer = FakeWriter(), FakeProducer()
    await producer_for(writer, producer).write([make_card("erin", 30.0)], "event")
    assert producer.sent == []


async def test_a_write_that_fails_part_way_renews_the_producer_id() -> None:
    """Redis may have marked records of that write as sent: a new id makes them read as lost."""
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    writer.fail = ConnectionError("Redis went away after applying")
    with pytest.raises(ConnectionError):
        await feed.write([make_card("fay", 30.0)], "event")
    assert writer.renewed == 1
    writer.fail = None
    await feed.write([make_card("fay", 30.0)], "event")
    assert writer.renewed == 1


LIKED = Snapshot(0, 38.0, 2.0, 0, {"like": {"twitter": 2.0}}, ())
"""The card replaced: 2.0 of twitter likes at time 0."""


@pytest.mark.parametrize(
    ("replaced", "components", "cause", "driver"),
    [
        (  # 14 days later the likes are worth 1.0, and 3.0 of instagram shares are new
            LIKED,
            {"like": {"twitter": 1.0}, "share": {"instagram": 3.0}},
            "event",
            "driven by +3.0 raw of new shares on instagram",
        ),
        (LIKED, {"like": {"twitter": 1.0}}, "decay", "decay while quiet"),
        (LIKED, {"like": {"twitter": 1.0}}, "refit", "decay while quiet, and a curve refit"),
        (
            None,
            {"mention": {"reddit": 4.0}},
            "event",
            "driven by +4.0 raw of new mentions on reddit",
        ),
    ],
)
async def test_a_crossing_says_in_one_line_what_drove_it(
    replaced: Snapshot | None, components: dict[str, dict[str, float]], cause: Any, driver: str
) -> None:
    writer, producer = FakeWriter(), FakeProducer()
    feed = producer_for(writer, producer)
    raw = sum(v for networks in components.values() for v in networks.values())
    card = make_card("erin", 41.0, raw, 14 * MS_PER_DAY, components=components)
    writer.next = [FeedChange(card, 41.0, 38.0, 0, 1, replaced)]
    await feed.write([card], cause)
    crossed, scored = producer.sent
    assert [record["driver"] for _, record in crossed[2]] == [driver]
    assert "driver" not in scored[2][0][1]  # score records carry none
