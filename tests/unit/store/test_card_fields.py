"""The card's field table: every ScoreCard attribute has one stored field, and a card read back
from the pairs the writer sends (the kernel encodes them) is the card that was written."""

from __future__ import annotations

import dataclasses

import pytest

from app.scoring.card import ActorContribution, ScoreCard
from app.store.card_fields import CARD_FIELDS, FENCE, card_values, format_score
from tests.support.cards import stored_row

CARD = ScoreCard(
    user_id="alice",
    score=57.3,
    raw=12.482913,
    components={"share": {"twitter": 6.0}, "like": {"twitter": 2.5, "mastodon": 3.982913}},
    style="sharer",
    engagers=42,
    top_actors=(ActorContribution("bob", 5.5), ActorContribution("carol", 1.25)),
    updated_at_ms=1_732_233_600_123,
    model_version="clout-model-2",
    curve_version=3,
)


def test_every_card_attribute_but_the_user_id_has_one_field() -> None:
    attrs = [f.attr for f in CARD_FIELDS]
    card_attrs = [f.name for f in dataclasses.fields(ScoreCard) if f.name != "user_id"]
    assert sorted(attrs) == sorted(card_attrs)
    names = [f.name for f in CARD_FIELDS]
    assert len(set(names)) == len(names)
    assert FENCE not in names


def test_a_card_reads_back_from_the_pairs_it_is_stored_as() -> None:
    pairs = stored_row(CARD, fence=7)[6]
    assert pairs[::2] == [f.name for f in CARD_FIELDS] + [FENCE]
    stored = dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert stored[FENCE] == "7"
    assert stored["updated_at"] == "1732233600123"
    assert stored["score"] == "57.3"
    assert ScoreCard(user_id="alice", **card_values(stored)) == CARD


def test_a_hash_from_before_the_live_curve_reads_as_the_default_curve() -> None:
    pairs = stored_row(CARD)[6]
    stored = dict(zip(pairs[::2], pairs[1::2], strict=True))
    del stored["curve_version"]
    assert card_values(stored)["curve_version"] == 0


def test_a_required_field_missing_is_a_key_error() -> None:
    pairs = stored_row(CARD)[6]
    stored = dict(zip(pairs[::2], pairs[1::2], strict=True))
    del stored["raw"]
    with pytest.raises(KeyError, match="raw"):
        card_values(stored)


def test_only_the_asked_attributes_are_read() -> None:
    assert card_values({"score": "1.0", "raw": "oops"}, {"score"}) == {"score": 1.0}


@pytest.mark.parametrize(
    ("score", "stored"), [(57.25, "57.2"), (57.26, "57.3"), (1.0, "1.0"), (100.0, "100.0")]
)
def test_scores_are_stored_with_one_decimal(score: float, stored: str) -> None:
    assert format_score(score) == stored
