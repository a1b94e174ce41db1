"""A message Faust delivers twice in one batch is processed once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from streams.agents import once_per_position


def delivery(topic: str, partition: int, offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


def test_a_repeated_position_is_dropped_and_the_order_kept() -> None:
    first, second, again, other_partition = (
        delivery("likes", 1, 7),
        delivery("likes", 1, 8),
        delivery("likes", 1, 7),
        delivery("likes", 2, 7),
    )

    assert once_per_position([first, second, again, other_partition]) == [
        first,
        second,
        other_partition,
    ]


def test_the_same_offset_in_another_topic_is_another_message() -> None:
    batch = [delivery("likes", 1, 7), delivery("shares", 1, 7)]

    assert once_per_position(batch) == batch
