"""The model's parameters: refused nonsense, the lookups by kind, the event rules, and the
actor weight that depends only on them."""

from __future__ import annotations

import pytest

from app.scoring.decay import MS_PER_DAY
from app.scoring.events import Kind
from app.scoring.params import ModelParams, actor_weight, is_unproven

P = ModelParams()


@pytest.mark.parametrize(
    "changes",
    [
        {"like_half_life_ms": 0},
        {"burst_tolerance": -1},
        {"actor_weight_floor": 0},
        {"actor_weight_floor": 5.0, "actor_weight_cap": 4.0},
        {"top_actors": 0},
    ],
)
def test_nonsense_params_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        ModelParams(**changes)  # type: ignore[arg-type]


def test_actor_weight_grows_with_score_and_is_clamped() -> None:
    assert actor_weight(None, P) == P.actor_weight_floor
    assert actor_weight(1.0, P) == P.actor_weight_floor
    assert actor_weight(P.actor_weight_pivot, P) == 1.0
    assert actor_weight(100.0, P) == min(P.actor_weight_cap, (100 / P.actor_weight_pivot) ** 2)
    scores = [float(s) for s in range(1, 101)]
    weights = [actor_weight(s, P) for s in scores]
    assert weights == sorted(weights)
    assert weights[-1] > 10 * weights[0]


def test_lookups_by_kind_follow_the_fields() -> None:
    params = ModelParams(like_half_life_ms=7 * MS_PER_DAY, share_weight=5.0)
    assert params.half_life_ms(Kind.LIKE) == 7 * MS_PER_DAY
    assert params.half_life_ms(Kind.MENTION) == params.mention_half_life_ms
    assert params.base_weight(Kind.SHARE) == 5.0
    assert params.base_weight(Kind.LIKE) == params.like_weight


def test_event_rules_take_the_horizon_and_the_skew() -> None:
    rules = ModelParams(horizon_ms=5 * MS_PER_DAY, max_future_ms=1000).event_rules
    assert (rules.horizon_ms, rules.max_future_ms) == (5 * MS_PER_DAY, 1000)


def test_unscored_and_low_actors_are_unproven() -> None:
    assert is_unproven(None, P)
    assert is_unproven(P.trusted_actor_score - 0.1, P)
    assert not is_unproven(P.trusted_actor_score, P)
