"""The curve's calibration targets, asserted on the reference population (docs/scoring.md)."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

import pytest

from app.scoring.card import ScoreCard
from app.scoring.model import STYLES, ModelParams
from app.simulation import (
    REFERENCE_END_MS,
    ReplayResult,
    generate_events,
    population_stats,
    replay_states,
)


def test_reference_population_hits_the_calibration_targets(
    reference_cards: dict[str, ScoreCard],
) -> None:
    scores = sorted((card.score for card in reference_cards.values()), reverse=True)
    n = len(scores)
    assert n > 10_000  # active users: those who received at least one event
    median = statistics.median(scores)
    top_5pct = scores[: -(-n * 5 // 100)]
    top_0_1pct = scores[: -(-n // 1000)]
    assert 35.0 <= median <= 45.0
    assert min(top_5pct) >= 60.0
    assert min(top_0_1pct) >= 80.0

    stats = population_stats(reference_cards)
    assert (stats.median, stats.top_5pct_min, stats.top_0_1pct_min) == (
        median,
        min(top_5pct),
        min(top_0_1pct),
    )


def test_celebrity_threshold_matches_the_top_0_1_percent(
    reference_cards: dict[str, ScoreCard], default_params: ModelParams
) -> None:
    stats = population_stats(reference_cards)
    assert stats.top_0_1pct_min >= default_params.celebrity_score
    celebrities = stats.styles.get("celebrity", 0)
    assert stats.active // 1000 <= celebrities <= 2 * (stats.active // 1000 + 1)


def test_every_style_occurs(reference_cards: dict[str, ScoreCard]) -> None:
    styles = population_stats(reference_cards).styles
    assert set(styles) == set(STYLES)


def test_replay_saw_retries_and_scored_every_target(reference_replay: ReplayResult) -> None:
    assert reference_replay.invalid == {}
    assert 0.002 < reference_replay.duplicates / 200_000 < 0.01
    assert reference_replay.accepted + reference_replay.duplicates == 200_000
    assert set(reference_replay.scores) == set(reference_replay.states)


# -- topics (#31), on populations the topic model was not tuned on ---------------------------


@pytest.mark.parametrize(("users", "events", "seed"), [(4000, 40000, 11), (6000, 50000, 12)])
def test_users_whose_engagement_is_concentrated_in_one_topic_are_influential_about_it(
    users: int, events: int, seed: int, default_params: ModelParams
) -> None:
    stream = list(generate_events(users, events, seed, REFERENCE_END_MS))
    tagged: dict[str, Counter[str]] = defaultdict(Counter)
    for _, event in stream:
        topics = event.get("topics") or []
        assert isinstance(topics, list)
        for topic in topics:
            tagged[str(event["target_id"])][topic] += 1 / len(topics)
    cards = replay_states(stream, default_params, REFERENCE_END_MS).cards(
        REFERENCE_END_MS, default_params
    )
    concentrated = {
        user: counts.most_common(1)[0][0]
        for user, counts in tagged.items()
        if counts.total() >= 5 and counts.most_common(1)[0][1] >= 0.8 * counts.total()
    }
    assert len(concentrated) >= 100
    first = {
        user: card.influential_about[0].topic
        for user, card in cards.items()
        if card.influential_about
    }
    agree = [user for user, topic in concentrated.items() if first.get(user) == topic]
    assert len(agree) >= 0.95 * len(concentrated)
    # and mixed users are influential about several topics, each with its share
    several = [c for c in cards.values() if len(c.influential_about) >= 2]
    assert len(several) >= 0.1 * len(cards)
    for card in several:
        shares = [t.share for t in card.influential_about]
        assert shares == sorted(shares, reverse=True)
        assert min(shares) >= default_params.influential_share
        assert sum(shares) <= 1 + 0.00005 * len(shares)  # each rounded to 4 decimals
