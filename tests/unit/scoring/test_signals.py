"""Per-user signal state: weights, repeat and burst damping, decay, order, bounds, round trips."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.events import Kind
from app.scoring.params import ModelParams, actor_weight
from app.scoring.signals import REBASE_AFTER_MS, UserSignals, apply_event
from tests.support.scoring import DAY, T0, TRUSTED, event, fold

P = ModelParams()


@pytest.mark.parametrize(
    ("kind", "base"), [(Kind.LIKE, 1.0), (Kind.SHARE, 3.0), (Kind.MENTION, 2.0)]
)
@pytest.mark.parametrize("score", [None, 10.0, 30.0, 50.0, 75.0, 100.0])
def test_first_event_weighs_base_times_actor_weight(
    kind: Kind, base: float, score: float | None
) -> None:
    state = apply_event(None, event(kind=kind), score, P)
    assert state.raw_at(T0, P) == pytest.approx(base * actor_weight(score, P))
    assert state.components_at(T0, P)[kind.value] == {
        "twitter": pytest.approx(base * actor_weight(score, P))
    }


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
def test_repeat_engagement_counts_one_over_n(n: int) -> None:
    same_actor = fold([event("alice") for _ in range(n)], P)
    assert same_actor.raw_at(T0, P) == pytest.approx(sum(1 / k for k in range(1, n + 1)))
    distinct = fold([event(f"a{k}") for k in range(n)], P)
    assert distinct.raw_at(T0, P) == pytest.approx(n)


def test_repeat_damping_fades_with_time() -> None:
    # A month apart, the earlier like counts half: the second one counts 1 / (1 + 0.5).
    state = fold([event(ts=T0), event(ts=T0 + int(P.repeat_half_life_ms))], P)
    later = T0 + int(P.repeat_half_life_ms)
    assert state.raw_at(later, P) == pytest.approx(
        2 ** (-P.repeat_half_life_ms / P.like_half_life_ms) + 1 / 1.5
    )


@pytest.mark.parametrize(("kind", "days"), [(Kind.LIKE, 14), (Kind.SHARE, 30), (Kind.MENTION, 30)])
def test_signal_halves_at_its_kind_half_life(kind: Kind, days: int) -> None:
    state = apply_event(None, event(kind=kind), TRUSTED, P)
    now = state.raw_at(T0, P)
    assert state.raw_at(T0 + days * DAY, P) == pytest.approx(now / 2)
    assert state.raw_at(T0 + 2 * days * DAY, P) == pytest.approx(now / 4)


def test_out_of_order_event_decays_its_own_weight() -> None:
    state = fold([event("a", ts=T0 + 10 * DAY), event("b", ts=T0)], P)
    assert state.t_ms == T0 + 10 * DAY
    assert state.raw_at(T0 + 10 * DAY, P) == pytest.approx(1 + 2 ** (-10 / 14))


@settings(max_examples=50, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 120 * DAY), min_size=1, max_size=40),
    seed=st.integers(0, 2**32),
)
def test_arrival_order_does_not_change_raw(offsets: list[int], seed: int) -> None:
    kinds = list(Kind)
    events = [
        event(f"a{i}", ts=T0 + off, kind=kinds[i % 3], network=("x", "y")[i % 2])
        for i, off in enumerate(offsets)
    ]
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    end = T0 + max(offsets)
    in_order = fold(sorted(events, key=lambda e: e.ts_ms), P)
    any_order = fold(shuffled, P)
    expected = sum(
        P.base_weight(e.kind) * 2 ** (-(end - e.ts_ms) / P.half_life_ms(e.kind)) for e in events
    )
    assert in_order.raw_at(end, P) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert any_order.raw_at(end, P) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_rebase_keeps_values_and_drops_decayed_entries() -> None:
    state = fold([event("old", network="myspace", ts=T0)], P)
    for day in range(1, 400, 3):
        state = apply_event(state, event(f"a{day}", ts=T0 + day * DAY), TRUSTED, P)
    end = T0 + 397 * DAY
    assert end - state.landmark_ms <= REBASE_AFTER_MS
    assert "lmyspace" not in state.sums
    assert "old" not in state.actors
    expected = sum(2 ** (-(397 - day) / 14) for day in range(1, 400, 3))
    assert state.raw_at(end, P) == pytest.approx(expected, rel=1e-6)


def test_actor_map_is_bounded_and_keeps_the_heaviest() -> None:
    params = ModelParams(top_actors=8)
    state = fold([event("whale") for _ in range(5)], params, actor_score=100.0)
    state = fold([event(f"fan{i}") for i in range(500)], params, state=state)
    assert len(state.actors) == 8
    top = state.top_actors_at(T0, params, 3)
    assert top[0][0] == "whale"
    assert top[0][1] == pytest.approx(4.0 * sum(1 / k for k in range(1, 6)))
    assert [c for _, c in top] == sorted((c for _, c in top), reverse=True)


def test_burst_of_unproven_actors_is_damped() -> None:
    fresh = fold([event(f"bot{i}", ts=T0 + i * 100) for i in range(1000)], P, actor_score=None)
    one_bot = P.actor_weight_floor
    # Quadratic damping: the whole burst is worth about 1 + tolerance * pi / 2 fresh likes.
    assert fresh.raw_at(T0 + 100_000, P) < one_bot * (1 + P.burst_tolerance * math.pi / 2 + 0.5)
    trusted = fold([event(f"fan{i}", ts=T0 + i * 100) for i in range(1000)], P)
    assert trusted.raw_at(T0 + 100_000, P) == pytest.approx(1000, rel=1e-3)


def test_burst_counter_recovers_after_quiet_hours() -> None:
    state = fold([event(f"bot{i}") for i in range(50)], P, actor_score=None)
    later = T0 + int(10 * P.burst_half_life_ms)
    before = state.raw_at(later, P)
    state = apply_event(state, event("late-bot", ts=later), None, P)
    assert state.raw_at(later, P) - before == pytest.approx(P.actor_weight_floor, rel=0.01)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10])
def test_engager_count_is_nearly_exact_for_small_audiences(n: int) -> None:
    state = fold([event(f"user-{i}") for i in range(n)], P)
    assert abs(state.engagers_at(T0, P) - n) <= 1


@pytest.mark.parametrize("n", [20, 200, 2000])
def test_engager_count_estimates_large_audiences(n: int) -> None:
    state = fold([event(f"user-{i}") for i in range(n)], P)
    assert state.engagers_at(T0, P) == pytest.approx(n, rel=0.35)


def test_engagers_are_forgotten_after_the_horizon() -> None:
    state = fold([event(f"user-{i}") for i in range(5)], P)
    assert state.engagers_at(T0 + P.horizon_ms // 4, P) == 5
    assert state.engagers_at(T0 + 2 * P.horizon_ms, P) == 0
    # A new epoch keeps the previous one: old engagers still count for up to a horizon.
    state = apply_event(state, event("new", ts=T0 + P.horizon_ms // 2 + 1), TRUSTED, P)
    assert state.engagers_at(state.t_ms, P) == 6


def rich_state() -> UserSignals:
    events = [
        event(f"a{i}", ts=T0 + i * 3_600_000, kind=list(Kind)[i % 3], network=f"n{i % 4}")
        for i in range(300)
    ]
    events += [event("a7", ts=T0 - 50 * DAY)]  # previous epoch
    return fold(events, P)


@pytest.mark.parametrize(
    "state",
    [
        apply_event(None, event(), TRUSTED, P),
        fold([event(f"bot{i}") for i in range(5)], P, actor_score=None),
        rich_state(),
    ],
    ids=["one event", "sparse registers", "dense registers, two epochs"],
)
def test_to_dict_round_trips(state: UserSignals) -> None:
    data = json.loads(json.dumps(state.to_dict()))
    restored = UserSignals.from_dict(data)
    assert restored.to_dict() == data
    # Floats are stored exact, so the restored state reads and evolves exactly as the original.
    later = state.t_ms + DAY
    assert restored.raw_at(later, P) == state.raw_at(later, P)
    assert restored.engagers_at(later, P) == state.engagers_at(later, P)
    assert restored.top_actors_at(later, P, 5) == state.top_actors_at(later, P, 5)
    follow_up = event("zed", ts=later)
    a = apply_event(state, follow_up, None, P)
    b = apply_event(restored, follow_up, None, P)
    assert b.to_dict() == a.to_dict()


def test_typical_state_is_small() -> None:
    # 480 and 1,946 bytes when written: exact floats take up to 17 digits each
    state = fold([event(f"user-{i}", ts=T0 + i * DAY) for i in range(8)], P)
    assert len(json.dumps(state.to_dict(), separators=(",", ":"))) < 600
    heavy = rich_state()
    assert len(json.dumps(heavy.to_dict(), separators=(",", ":"))) < 2400


@pytest.mark.parametrize(
    "data",
    [{}, {"L": 1}, {"L": 1, "t": 1, "s": [], "e": 0, "h": []}, {"L": 1, "t": 1, "s": {}, "e": 0}],
)
def test_from_dict_rejects_malformed_state(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed"):
        UserSignals.from_dict(data)


def test_copy_is_independent() -> None:
    state = fold([event("a")], P)
    clone = state.copy()
    apply_event(clone, event("b"), TRUSTED, P)
    assert state.raw_at(T0, P) == pytest.approx(1.0)
    assert clone.raw_at(T0, P) == pytest.approx(2.0)


# -- topics (#31) --------------------------------------------------------------------------


def test_an_event_shares_its_weight_among_its_topics() -> None:
    params = ModelParams()
    state = fold([event("a", topics=("coffee", "tea")), event("b")], params)
    assert state.topics_at(T0, params) == (1.0, {"coffee": 0.5, "tea": 0.5})
    assert state.raw_at(T0, params) == 2.0


def test_topics_decay_with_their_kinds_half_life() -> None:
    params = ModelParams()
    state = fold(
        [event("a", topics=("coffee",)), event("b", kind=Kind.SHARE, topics=("coffee",))], params
    )
    tagged, topics = state.topics_at(T0 + 30 * DAY, params)
    like, share = 2.0 ** (-30 / 14), 3.0 / 2
    assert tagged == pytest.approx(like + share, rel=1e-12)
    assert topics["coffee"] == pytest.approx(like + share, rel=1e-12)


def test_a_full_topic_map_evicts_the_lightest_but_keeps_its_weight_in_the_total() -> None:
    params = ModelParams(top_topics=2)
    state = fold(
        [
            event("a", topics=("coffee",)),
            event("b", topics=("coffee",)),
            event("c", topics=("tea",)),
            event("d", topics=("cocoa",)),
        ],
        params,
    )
    assert state.topics_at(T0, params) == (4.0, {"coffee": 2.0, "cocoa": 1.0})


def test_faded_topics_are_dropped_at_a_rebase() -> None:
    params = ModelParams()
    state = fold([event("a", topics=("coffee",))], params)
    state = fold([event("b", ts=T0 + 400 * DAY)], params, state=state)
    assert state.topics_at(T0 + 400 * DAY, params) == (0.0, {})
    assert "T" not in state.to_dict()
