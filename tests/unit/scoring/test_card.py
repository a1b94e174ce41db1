"""The score card: its components summed per kind."""

from __future__ import annotations

from app.scoring.card import ActorContribution, ScoreCard


def test_kind_totals_sum_each_kinds_networks() -> None:
    card = ScoreCard(
        user_id="alice",
        score=40.0,
        raw=9.5,
        components={
            "like": {"twitter": 2.0, "bsky": 0.5},
            "share": {"twitter": 7.0},
            "mention": {},
        },
        style="sharer",
        engagers=3,
        top_actors=(ActorContribution("bob", 7.0),),
        updated_at_ms=1,
        model_version="m",
        curve_version=0,
    )
    assert card.kind_totals() == {"like": 2.5, "share": 7.0, "mention": 0}
    assert sum(card.kind_totals().values()) == card.raw
