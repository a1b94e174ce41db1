"""The curve's calibration targets, asserted on the reference population (docs/scoring.md)."""

from __future__ import annotations

import statistics

from app.scoring.card import ScoreCard
from app.scoring.model import STYLES, ModelParams
from app.simulation import ReplayResult, population_stats


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
