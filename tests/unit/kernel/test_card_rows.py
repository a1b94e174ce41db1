"""The kernel's card encoding (kernel/src/cards.rs) against the readers: random cards, encoded as
write_cards.lua gets them, read back through `card_values` and `Snapshot.from_dict` into the very
card and snapshot they came from."""

from __future__ import annotations

import dataclasses
from typing import Any

import clout_kernel
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.attribution import Snapshot, snapshot_of
from app.scoring.card import ActorContribution, ScoreCard, TopicInfluence
from app.store.card_fields import CARD_FIELDS, FENCE, card_values, format_score

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
number = st.floats(allow_nan=False, allow_infinity=False)
networks = st.dictionaries(text, number, max_size=7)
cards = st.builds(
    ScoreCard,
    user_id=text,
    # the visible score's ties and rounding edges as well as anything else
    score=st.one_of(st.sampled_from([41.25, 41.75, 0.05, 99.95, 100.0, 1.0]), number),
    raw=number,
    components=st.dictionaries(st.sampled_from(["like", "share", "mention"]), networks),
    style=text,
    engagers=st.integers(0, 2**62),
    top_actors=st.lists(st.builds(ActorContribution, text, number), max_size=5).map(tuple),
    updated_at_ms=st.integers(0, 2**53),
    model_version=text,
    curve_version=st.integers(0, 2**31),
    influential_about=st.lists(
        st.builds(
            TopicInfluence, text, number, number, number, st.sampled_from(["topic", "global"])
        ),
        max_size=3,
    ).map(tuple),
)


def rows(*heads: tuple[ScoreCard, int, str, str, int, int]) -> list[Any]:
    decoded: list[Any] = orjson.loads(clout_kernel.card_rows(list(heads)))
    return decoded


@given(cards, st.integers(0, 2**62))
def test_a_card_reads_back_from_its_row(card: ScoreCard, fence: int) -> None:
    (row,) = rows((card, fence, "2026-12-07", "2026-09-09", 2, 3))
    user_id, day, first_kept, low, high, snapshot, pairs = row
    assert (user_id, day, first_kept, low, high) == (card.user_id, "2026-12-07", "2026-09-09", 2, 3)
    assert pairs[::2] == [f.name for f in CARD_FIELDS] + [FENCE]
    stored = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert stored["score"] == format_score(card.score)
    assert stored[FENCE] == str(fence)
    read = ScoreCard(user_id=user_id, **card_values(stored))
    assert read == dataclasses.replace(card, score=float(format_score(card.score)))
    assert Snapshot.from_dict(orjson.loads(snapshot)) == snapshot_of(card)


def test_rows_of_a_chunk_keep_their_order_and_heads() -> None:
    first = ScoreCard("a", 1.0, 1.0, {}, "s", 0, (), 5, "m", 0)
    second = ScoreCard("b", 2.0, 2.0, {"like": {"x": 2.0}}, "s", 1, (), 6, "m", 0)
    decoded = rows((first, 1, "d1", "k1", 0, 0), (second, 2, "d2", "k2", 4, 5))
    assert [r[:5] for r in decoded] == [["a", "d1", "k1", 0, 0], ["b", "d2", "k2", 4, 5]]


def test_a_row_head_of_the_wrong_shape_is_refused() -> None:
    card = ScoreCard("a", 1.0, 1.0, {}, "s", 0, (), 5, "m", 0)
    with pytest.raises(ValueError, match="length 6"):
        clout_kernel.card_rows([(card, 0, "d", "k")])  # type: ignore[list-item]
