"""The offline replay does what the worker does: validate, dedupe, weight by actor, score."""

from __future__ import annotations

import pytest

from app.scoring.events import Kind
from app.scoring.model import (
    DEFAULT_CURVE,
    ModelParams,
    actor_weight,
    score_card,
    score_from_raw,
)
from app.simulation import population_stats, replay, replay_states
from tests.support.scoring import T0

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


def test_replay_validates_dedupes_and_weights_by_current_score() -> None:
    events: list[tuple[Kind, object]] = [
        (Kind.LIKE, wire("1", "carol", "alice")),
        (Kind.LIKE, wire("1", "carol", "alice")),  # retry
        (Kind.LIKE, wire("2", "alice", "alice")),  # self-engagement
        (Kind.LIKE, {"event_id": "3"}),
        (Kind.SHARE, wire("4", "alice", "bob", T0 + 1000)),
    ]
    result = replay_states(events, P, T0 + 1000)
    assert result.accepted == 2
    assert result.duplicates == 1
    assert result.invalid == {"self-engagement": 1, "missing field: network": 1}
    # Carol has no score: alice gets the floor weight; alice's score then weights her share.
    alice_score = score_from_raw(P.actor_weight_floor, DEFAULT_CURVE)
    assert result.scores["alice"] == alice_score
    bob_raw = result.states["bob"].raw_at(T0 + 1000, P)
    assert bob_raw == pytest.approx(P.share_weight * actor_weight(alice_score, P))
    assert actor_weight(alice_score, P) > P.actor_weight_floor
    cards = replay(events, P, T0 + 1000)
    assert set(cards) == {"alice", "bob"}
    assert cards["bob"] == score_card("bob", result.states["bob"], T0 + 1000, P, DEFAULT_CURVE)


def test_population_stats_definitions() -> None:
    events = [(Kind.LIKE, wire(str(i), f"a{i}", f"t{i % 40}")) for i in range(400)]
    cards = replay(events, P, T0)
    stats = population_stats(cards)
    assert stats.active == 40
    assert stats.top_0_1pct_min == stats.max
    assert sum(stats.styles.values()) == 40
    with pytest.raises(ValueError, match="no active"):
        population_stats({})
