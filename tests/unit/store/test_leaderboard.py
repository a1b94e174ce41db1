"""The sharded leaderboard's pure parts: the order-keeping float ordinal and the merge."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from app.store.leaderboard import float_from_ordinal, float_ordinal, merge_shard_pages

finite_or_infinite = st.floats(allow_nan=False)


@given(finite_or_infinite, finite_or_infinite)
def test_ordinals_order_floats_as_their_values(a: float, b: float) -> None:
    if a < b:
        assert float_ordinal(a) < float_ordinal(b)
    elif a > b:
        assert float_ordinal(a) > float_ordinal(b)


@given(finite_or_infinite)
def test_ordinals_round_trip(value: float) -> None:
    back = float_from_ordinal(float_ordinal(value))
    assert back == value
    assert math.copysign(1.0, back) == math.copysign(1.0, value)


def test_merge_orders_by_raw_then_id_descending_like_zrevrange() -> None:
    shard_a = [("carol", 5.0), ("bob", 2.0), ("alice", 2.0)]
    shard_b = [("dave", 5.0), ("erin", 2.0), ("zed", 1.0)]
    assert merge_shard_pages([shard_a, shard_b]) == [
        ("dave", 5.0),
        ("carol", 5.0),
        ("erin", 2.0),
        ("bob", 2.0),
        ("alice", 2.0),
        ("zed", 1.0),
    ]
