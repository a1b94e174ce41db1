"""Bought engagement must gain at least ten times less than as much organic engagement."""

from __future__ import annotations

import pytest

from app.scoring.model import ModelParams
from app.simulation import REFERENCE_END_MS, REFERENCE_SEED, ReplayResult
from app.simulation.gaming import fitted_curve, gaming_report_from
from tests.support.gaming import SUMMARY


def test_organic_engagement_gains_ten_times_more_than_bought(
    reference_replay: ReplayResult, default_params: ModelParams
) -> None:
    report = gaming_report_from(
        reference_replay, default_params, end_ms=REFERENCE_END_MS, seed=REFERENCE_SEED
    )
    assert report.bought.engagements == report.organic.engagements == 1000
    assert report.baseline_score == pytest.approx(report.population.median, abs=0.5)
    assert report.organic.points > 0
    assert report.bought.points > 0  # bought engagement is worth little, not nothing
    assert report.ratio >= 10.0
    assert report.organic.points_per_1000 / report.drip.points_per_1000 >= 10.0
    last = report.lines()[-1]
    match = SUMMARY.fullmatch(last)
    assert match is not None
    assert float(match[3]) == pytest.approx(report.ratio, abs=0.01)


def test_gaming_resistance_holds_on_the_fitted_curve(
    reference_replay: ReplayResult, default_params: ModelParams
) -> None:
    """Graded on the curve its first refit fits (median 40, not 37.8), the ratio still holds."""
    curve = fitted_curve(reference_replay, default_params, REFERENCE_END_MS)
    report = gaming_report_from(
        reference_replay, default_params, end_ms=REFERENCE_END_MS, seed=7, curve=curve
    )
    assert report.population.median == pytest.approx(40.0, abs=0.1)
    assert report.ratio >= 10.0


def test_without_the_defences_buying_would_pay(
    reference_replay: ReplayResult, default_params: ModelParams
) -> None:
    """The ratio comes from the model's rules, not from the scenario: weaken them and it falls."""
    from dataclasses import replace

    weak = replace(default_params, burst_tolerance=1e9, actor_weight_floor=1.0)
    report = gaming_report_from(reference_replay, weak, end_ms=REFERENCE_END_MS, seed=7)
    assert report.ratio < 3.0
