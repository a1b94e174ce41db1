"""The curve, styles, score cards and refresh times; and Settings -> ModelParams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.curve import DEFAULT_CURVE, Curve, TopicCurves, fit_curve, population_of
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import (
    MAX_REFRESH_MS,
    MODEL_VERSION,
    STYLES,
    ModelParams,
    current_score,
    next_refresh_ms,
    score_card,
    score_from_raw,
    style,
)
from app.scoring.signals import UserSignals, apply_event
from tests.support.scoring import DAY, T0, TRUSTED, event, fold

P = ModelParams()
C = DEFAULT_CURVE
FITTED = fit_curve(
    population_of([0.05 * 1.01**i for i in range(2000)], 0.01),
    DEFAULT_CURVE,
    version=1,
    fitted_at_ms=0,
    max_step=2.0,
    min_population=1000,
)


def comps(**by_key: float) -> dict[str, dict[str, float]]:
    """`like_twitter=2.0` -> {"like": {"twitter": 2.0}, ...}."""
    out: dict[str, dict[str, float]] = {"like": {}, "share": {}, "mention": {}}
    for key, value in by_key.items():
        kind, network = key.split("_")
        out[kind][network] = value
    return out


@pytest.mark.parametrize(
    ("score", "components", "expected"),
    [
        (83.4, comps(like_twitter=1.0), "celebrity"),
        (83.3, comps(like_twitter=1.0), "specialist"),
        (99.0, comps(share_twitter=9.0, like_tiktok=1.0), "celebrity"),
        (50.0, comps(share_twitter=5.0, like_tiktok=5.0), "broadcaster"),
        (50.0, comps(share_twitter=3.0, share_tiktok=3.0, like_x=4.0), "broadcaster"),
        (50.0, comps(mention_twitter=3.0, mention_tiktok=3.0, like_x=4.0), "conversationalist"),
        (50.0, comps(like_twitter=9.0, mention_twitter=1.0), "specialist"),
        (50.0, comps(like_twitter=5.0, share_twitter=4.0, like_x=1.0), "specialist"),
        (50.0, comps(like_twitter=5.0, like_tiktok=5.0), "explorer"),
        (50.0, comps(like_twitter=4.0, share_x=3.0, mention_y=3.0), "explorer"),
        (1.0, comps(), "explorer"),
    ],
)
def test_style_rules(score: float, components: dict[str, dict[str, float]], expected: str) -> None:
    assert expected in STYLES
    assert style(score, components, P) == expected


def mixed_state() -> UserSignals:
    kinds = list(Kind)
    return fold(
        [
            event(f"a{i % 7}", ts=T0 + i * 3_600_000, kind=kinds[i % 3], network=f"n{i % 2}")
            for i in range(40)
        ],
        P,
    )


@pytest.mark.parametrize("later_days", [0, 1, 10, 60])
def test_card_components_sum_to_raw(later_days: int) -> None:
    state = mixed_state()
    now = state.t_ms + later_days * DAY
    card = score_card("bob", state, now, P, C)
    assert set(card.components) == {"like", "share", "mention"}
    assert sum(v for nets in card.components.values() for v in nets.values()) == pytest.approx(
        card.raw, rel=1e-12
    )
    assert card.raw == pytest.approx(state.raw_at(now, P), abs=1e-5)
    assert card.score == score_from_raw(card.raw, C) == current_score(state, now, P, C)
    assert card.updated_at_ms == now
    assert card.model_version == MODEL_VERSION
    assert card.curve_version == 0
    assert score_card("bob", state, now, P, FITTED).curve_version == 1
    assert card.user_id == "bob"
    assert abs(card.engagers - 7) <= 1  # HyperLogLog: approximate by design
    assert card.style in STYLES
    contributions = [a.contribution for a in card.top_actors]
    assert len(card.top_actors) == 5
    assert contributions == sorted(contributions, reverse=True)


def test_cards_decay_toward_one() -> None:
    state = mixed_state()
    scores = [
        score_card("bob", state, state.t_ms + d * DAY, P, C).score for d in (0, 10, 100, 2000)
    ]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1] == 1.0


def test_current_score_of_nobody_is_none() -> None:
    assert current_score(None, T0, P, C) is None


@settings(max_examples=60, deadline=None)
@given(
    likes=st.integers(1, 300),
    shares=st.integers(0, 100),
    idle_hours=st.integers(0, 24 * 120),
    curve=st.sampled_from([DEFAULT_CURVE, FITTED]),
)
def test_next_refresh_is_the_first_visible_drop(
    likes: int, shares: int, idle_hours: int, curve: Curve
) -> None:
    events = [event(f"a{i}", ts=T0 + i * 60_000) for i in range(likes)]
    events += [event(f"s{i}", ts=T0 + i * 60_000, kind=Kind.SHARE) for i in range(shares)]
    state = fold(events, P)
    now = state.t_ms + idle_hours * 3_600_000
    shown = current_score(state, now, P, curve)
    assert shown is not None
    when = next_refresh_ms(state, now, P, curve)
    assert now < when <= now + MAX_REFRESH_MS
    if when < now + MAX_REFRESH_MS:
        assert current_score(state, when, P, curve) == pytest.approx(shown - 0.1)
        assert current_score(state, when - 1, P, curve) == shown
    else:
        assert (current_score(state, when, P, curve) or 0.0) >= round(shown - 0.1, 1)


def test_next_refresh_for_a_score_at_the_floor_is_the_cap() -> None:
    state = apply_event(None, event(), None, P)
    much_later = T0 + 3000 * DAY
    assert current_score(state, much_later, P, C) == 1.0
    assert next_refresh_ms(state, much_later, P, C) == much_later + MAX_REFRESH_MS


def test_next_refresh_cap_for_slowly_decaying_scores() -> None:
    # A whale's score moves less than 0.1 in a day: the cap applies.
    state = fold([event(f"a{i}", kind=Kind.SHARE) for i in range(20_000)], P, actor_score=100.0)
    now = state.t_ms
    shown = current_score(state, now, P, C)
    assert shown is not None
    assert next_refresh_ms(state, now, P, C) == now + MAX_REFRESH_MS
    assert (current_score(state, now + MAX_REFRESH_MS, P, C) or 0.0) > shown - 0.1


def test_a_trusted_actor_counts_more_than_many_fresh_ones() -> None:
    one_star = apply_event(None, event("star"), 100.0, P)
    fresh = fold([event(f"new{i}") for i in range(30)], P, actor_score=None)
    assert one_star.raw_at(T0, P) > fresh.raw_at(T0, P)
    assert P.trusted_actor_score <= TRUSTED


# -- topics (#31) --------------------------------------------------------------------------


def test_influential_about_lists_the_topics_above_the_share_largest_first() -> None:
    params = ModelParams(influential_share=0.2)
    state = fold(
        [
            *(event(f"a{i}", topics=("coffee",)) for i in range(6)),
            *(event(f"b{i}", topics=("tea",)) for i in range(3)),
            event("c", topics=("cocoa",)),
            *(event(f"d{i}") for i in range(10)),  # untagged: not part of the shares
        ],
        params,
    )
    card = score_card("bob", state, T0, params, DEFAULT_CURVE)
    about = [(t.topic, t.share, t.raw, t.curve) for t in card.influential_about]
    assert about == [("coffee", 0.6, 6.0, "global"), ("tea", 0.3, 3.0, "global")]
    assert card.influential_about[0].score == score_from_raw(6.0, DEFAULT_CURVE)


def test_a_topic_with_its_own_curve_is_graded_on_it() -> None:
    params = ModelParams()
    state = fold([event("a", topics=("coffee",)), event("b", topics=("tea",))], params)
    niche = fit_curve(
        population_of([0.0001 * (i + 1) for i in range(2000)], 0.0),
        DEFAULT_CURVE,
        version=3,
        fitted_at_ms=T0,
        max_step=100.0,
        min_population=1000,
    )
    card = score_card("bob", state, T0, params, DEFAULT_CURVE, TopicCurves(1, {"coffee": niche}))
    graded = {t.topic: (t.curve, t.score) for t in card.influential_about}
    assert graded == {
        "coffee": ("topic", score_from_raw(1.0, niche)),
        "tea": ("global", score_from_raw(1.0, DEFAULT_CURVE)),
    }
    assert graded["coffee"][1] > graded["tea"][1]


def test_no_tagged_engagement_means_no_topic() -> None:
    state = fold([event("a"), event("b")], ModelParams())
    assert score_card("bob", state, T0, ModelParams(), DEFAULT_CURVE).influential_about == ()


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # one network, several topics: a network specialist
        ([event(f"a{i}", topics=(f"t{i}",)) for i in range(5)], "specialist"),
        # five networks, one topic: a topic specialist
        ([event(f"a{i}", network=f"n{i}", topics=("coffee",)) for i in range(5)], "specialist"),
        # five networks, five topics: no concentration
        ([event(f"a{i}", network=f"n{i}", topics=(f"t{i}",)) for i in range(5)], "explorer"),
        # five networks, a topic holding 80% < 90%: no concentration
        (
            [event(f"a{i}", network=f"n{i}", topics=("coffee",)) for i in range(4)]
            + [event("z", network="n9")],
            "explorer",
        ),
    ],
)
def test_specialist_is_one_topic_or_one_network_holding_most_influence(
    events: list[EngagementEvent], expected: str
) -> None:
    params = ModelParams()
    state = fold(events, params)
    assert score_card("bob", state, T0, params, DEFAULT_CURVE).style == expected
