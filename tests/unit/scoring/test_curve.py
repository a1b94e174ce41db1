"""The live curve: the default log-logistic, the fit's grading targets and the bounded step."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.scoring.curve import (
    DEFAULT_CURVE,
    DEFAULT_EXPONENT,
    DEFAULT_MID_RAW,
    GRID_SIZE,
    RAW_MAX,
    RAW_MIN,
    Curve,
    Population,
    fit_curve,
    population_of,
    quantile_ranks,
)

FLOOR = 0.01
raws = st.floats(min_value=0.0, max_value=1e12, allow_nan=False)


def log_logistic(raw: float) -> float:
    q = (raw / DEFAULT_MID_RAW) ** DEFAULT_EXPONENT
    return 1 + 99 * q / (1 + q)


def lognormal_raws(n: int, mu: float, sigma: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def fitted(population: Population, previous: Curve = DEFAULT_CURVE, **kw: object) -> Curve:
    args: dict[str, object] = {
        "version": previous.version + 1,
        "fitted_at_ms": 0,
        "max_step": 2.0,
        "min_population": 1000,
    }
    args.update(kw)
    return fit_curve(population, previous, **args)  # type: ignore[arg-type]


def dense_raws(seed: int) -> list[float]:
    """Raws across and beyond the grid: random log-uniform plus the grid points and midpoints."""
    rng = random.Random(seed)
    points = [
        math.exp(rng.uniform(math.log(RAW_MIN) - 5, math.log(RAW_MAX) + 5)) for _ in range(3000)
    ]
    points += [RAW_MIN * math.exp(0.025 * k) for k in range(2 * GRID_SIZE)]
    return points


@given(raw=st.floats(min_value=0.0, max_value=1e30, allow_nan=False))
def test_default_curve_is_the_documented_log_logistic(raw: float) -> None:
    assert DEFAULT_CURVE.score(raw) == pytest.approx(
        log_logistic(raw) if raw > 0 else 1.0, abs=0.005
    )


def test_default_curve_keeps_the_documented_table() -> None:
    table = {0.1: 19.0, 0.3: 26.8, 1: 37.5, 2: 44.4, 3.6: 50.5, 10: 61.0, 30: 71.2, 100: 80.4}
    table |= {300: 86.6, 1000: 91.5, 10000: 96.6}
    assert {raw: round(DEFAULT_CURVE.score(raw), 1) for raw in table} == table


@given(a=raws, b=raws)
def test_curve_is_monotonic_and_bounded(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 1.0 <= DEFAULT_CURVE.score(low) <= DEFAULT_CURVE.score(high) <= 100.0


@pytest.mark.parametrize("raw", [0.0, -3.0, math.inf])
def test_curve_edges(raw: float) -> None:
    assert DEFAULT_CURVE.score(raw) == (100.0 if raw > 0 else 1.0)


@given(score=st.floats(min_value=1.0, max_value=100.0))
def test_raw_for_score_is_the_inverse(score: float) -> None:
    raw = DEFAULT_CURVE.raw_for_score(score)
    if math.isfinite(raw):
        assert DEFAULT_CURVE.score(raw) == pytest.approx(score, abs=1e-9)
    assert DEFAULT_CURVE.raw_for_score(1.0) == 0.0
    assert DEFAULT_CURVE.raw_for_score(100.0) == math.inf


def test_curve_round_trips_and_refuses_malformed_input() -> None:
    curve = fitted(population_of(lognormal_raws(5000, 0, 1.5, 1), FLOOR))
    assert Curve.from_dict(curve.to_dict()) == curve
    with pytest.raises(ValueError, match="grid scores"):
        Curve.from_dict(curve.to_dict() | {"scores": [1.0, 2.0]})
    with pytest.raises(ValueError, match="non-decreasing"):
        Curve.from_dict(curve.to_dict() | {"scores": list(reversed(curve.scores))})
    with pytest.raises(ValueError, match="malformed"):
        Curve.from_dict({"version": 1})


def test_quantile_ranks_follow_the_documented_definition() -> None:
    assert quantile_ranks(1) == (0, 0, 0)
    assert quantile_ranks(14_097) == (7048, 704, 14)
    with pytest.raises(ValueError, match="at least one"):
        quantile_ranks(0)


populations = st.tuples(
    st.integers(min_value=1000, max_value=6000),  # active users
    st.floats(min_value=-4.0, max_value=5.0),  # log of the typical raw (activity per user)
    st.floats(min_value=0.1, max_value=3.5),  # tail weight (log-normal sigma)
    st.integers(min_value=0, max_value=2**32),
)


def share_at_least(scores: list[float], share: float) -> float:
    """The lowest score among the best ceil(share * N) (the docs' "top x% >= ...")."""
    ranked = sorted(scores, reverse=True)
    return ranked[math.ceil(share * len(ranked)) - 1]


@settings(max_examples=60, deadline=None)
@given(shape=populations)
def test_a_fit_grades_any_population_on_the_curve(shape: tuple[int, float, float, int]) -> None:
    n, mu, sigma, seed = shape
    values = lognormal_raws(n, mu, sigma, seed)
    population = population_of(values, FLOOR)
    assume(population.count >= 1000)  # smaller ones keep the default (tested below)
    curve = fitted(population)
    scores = [round(curve.score(r), 1) for r in values if r > FLOOR]
    assert statistics.median(scores) == pytest.approx(40.0, abs=0.5)
    assert share_at_least(scores, 0.05) >= 61.5
    assert share_at_least(scores, 0.001) >= 81.5
    at_90 = curve.raw_for_score(90.0)
    assert curve.score(2 * at_90) - 90.0 < 5.0


def test_below_the_minimum_population_the_fit_falls_back_to_the_default() -> None:
    small = population_of(lognormal_raws(999, 3.0, 1.0, 5), FLOOR)
    assert fitted(small).scores == DEFAULT_CURVE.scores
    assert fitted(small).population == 999


@settings(max_examples=200, deadline=None)
@given(
    before=populations,
    after=populations,
    max_step=st.sampled_from([0.5, 1.0, 2.0, 3.0, 5.0]),
    small=st.booleans(),
)
def test_a_refit_moves_no_displayed_score_more_than_the_step(
    before: tuple[int, float, float, int],
    after: tuple[int, float, float, int],
    max_step: float,
    small: bool,
) -> None:
    n, mu, sigma, seed = before
    previous = fitted(population_of(lognormal_raws(n, mu, sigma, seed), FLOOR))
    n, mu, sigma, seed = after
    population = population_of(lognormal_raws(n // 4 if small else n, mu, sigma, seed), FLOOR)
    new = fitted(population, previous, max_step=max_step)
    for raw in dense_raws(seed):
        moved = abs(round(new.score(raw), 1) - round(previous.score(raw), 1))
        assert moved <= max_step + 1e-9, raw
    at_90 = new.raw_for_score(90.0)
    assert new.score(2 * at_90) - 90.0 < 5.0
    assert list(new.scores) == sorted(new.scores)


def test_now_applies_a_refit_in_full() -> None:
    previous = fitted(population_of(lognormal_raws(5000, 0.0, 1.5, 1), FLOOR))
    population = population_of(lognormal_raws(5000, 2.3, 1.5, 2), FLOOR)
    bounded = fitted(population, previous)
    full = fitted(population, previous, full=True)
    assert full.scores == fitted(population).scores
    assert full.score(population.raw_median) == pytest.approx(40.0, abs=0.1)
    assert bounded.score(population.raw_median) == pytest.approx(
        previous.score(population.raw_median) - 2.0, abs=1e-6
    )


def test_doubling_activity_overnight_keeps_the_median_at_40_with_hourly_refits() -> None:
    """Activity ramps to double over 12 hours, refitting hourly with the 2-point step bound."""
    base = lognormal_raws(20_000, 0.3, 1.4, 11)
    curve = fitted(population_of(base, FLOOR))
    for hour in range(1, 14):
        factor = 1.0 + min(hour, 12) / 12.0
        population = population_of([r * factor for r in base], FLOOR)
        curve = fitted(population, curve, fitted_at_ms=hour * 3_600_000)
    doubled = [round(curve.score(2 * r), 1) for r in base if 2 * r > FLOOR]
    assert statistics.median(doubled) == pytest.approx(40.0, abs=3.0)
    # Without a refit the same doubling would have lifted the median well out of the band.
    first = fitted(population_of(base, FLOOR))
    assert statistics.median(round(first.score(2 * r), 1) for r in base) > 43.0
