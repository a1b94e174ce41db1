"""The score curve, raw influence -> 1..100, graded on the live population (docs/scoring.md).

A `Curve` is a table of unrounded scores on one fixed grid of log(raw) points shared by every
curve (`GRID_SIZE` points `GRID_STEP` apart from `RAW_MIN` to about `RAW_MAX`), interpolated
linearly in log(raw), with fixed-shape tails outside the grid. Sharing the grid is what makes the
bounded step exact: two curves differ by a piecewise-linear function between grid points, so
clamping the new table into previous +/- step at the grid points clamps it at every raw.

`fit_curve` grades on a curve: the median active user scores 40, the top 5% at least 62, the top
0.1% 82; between those anchors the curve is log-logistic (linear in logit(score) against
log(raw)), and above the top anchor its slope is capped so doubling raw at score 90 adds under
5 points whatever the population's tail. `DEFAULT_CURVE` (version 0) is the documented fixed
log-logistic (`DEFAULT_MID_RAW` 3.6, `DEFAULT_EXPONENT` 0.42) on the same grid; a deployment
that has never fitted (or has too few active users) scores with it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

MIN_SCORE = 1.0
MAX_SCORE = 100.0

RAW_MIN = 1e-4
"""The first grid point (a single like from an unscored actor is raw 0.1)."""
GRID_STEP = 0.02
"""Spacing of the grid in ln(raw): interpolation error against the log-logistic < 0.001 points."""
GRID_SIZE = 1152
"""Grid points; the last one is at raw ~0.99e6, far above any user seen (top raw ~ 10^3)."""
_X0 = math.log(RAW_MIN)
_X_LAST = _X0 + (GRID_SIZE - 1) * GRID_STEP
RAW_MAX = math.exp(_X_LAST)
DEFAULT_MID_RAW = 3.6
"""Raw influence that scores 50.5 on the default curve."""
DEFAULT_EXPONENT = 0.42
"""Steepness of the default log-logistic (lower is more compressive)."""
TAIL_EXPONENT = DEFAULT_EXPONENT
"""Both tails, the same for every curve (so the step bound holds there too): below RAW_MIN
`1 + (s_first - 1) * (raw / RAW_MIN) ** e`, above RAW_MAX `100 - (100 - s_last) * (RAW_MAX /
raw) ** e`; the default curve's own exponent, so the default curve matches its log-logistic
within 0.005 points at every raw."""


MEDIAN_SCORE = 40.0
TOP5_SCORE = 62.0
TOP01_SCORE = 82.0
"""The fit's anchors: median active user, lowest of the top 5%, lowest of the top 0.1%."""
TOP_SLOPE_CAP = 0.8
"""Largest slope of logit(score) in ln(raw) above the top 0.1% anchor: doubling raw at 90 adds
at most 4.0 points (5 would need 1.08)."""
MIN_LOG_GAP = math.log(1.05)
"""Anchors closer than this in ln(raw) (a population of near-equal users) are spread to it."""
TABLE_SCORES = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 62.0, 70.0, 80.0, 82.0, 90.0, 95.0, 99.0)
"""The scores `clout curve show` and `GET /v1/curve` give the raw for (docs/scoring.md)."""
STEP_MARGIN = 1e-9
"""Clamping uses `max_step - STEP_MARGIN`, so float error never pushes a difference over."""


def _logit(score: float) -> float:
    return math.log((score - MIN_SCORE) / (MAX_SCORE - score))


def _from_logit(y: float) -> float:
    if y >= 0:
        return MIN_SCORE + (MAX_SCORE - MIN_SCORE) / (1.0 + math.exp(-y))
    e = math.exp(y)
    return MIN_SCORE + (MAX_SCORE - MIN_SCORE) * e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class Population:
    """What a fit reads from the live population: its size and raw at three ranks.

    Ranks are taken by `quantile_ranks` (0-based from the highest raw), both from Redis and
    from a list of raws, so the two agree.
    """

    count: int
    raw_median: float
    raw_top5: float
    raw_top01: float


def quantile_ranks(count: int) -> tuple[int, int, int]:
    """0-based ranks from the top of (median, lowest of top 5%, lowest of top 0.1%).

    "Top 5% score >= x" means the lowest score among the best ceil(5% of N) is x.
    """
    if count < 1:
        raise ValueError("need at least one active user")
    return count // 2, math.ceil(0.05 * count) - 1, math.ceil(0.001 * count) - 1


def population_of(raws: Sequence[float], active_floor: float) -> Population:
    """The Population of `raws` (any order): users above `active_floor` are the active ones."""
    active = sorted((r for r in raws if r > active_floor), reverse=True)
    if not active:
        return Population(0, 0.0, 0.0, 0.0)
    median, top5, top01 = quantile_ranks(len(active))
    return Population(len(active), active[median], active[top5], active[top01])


@dataclass(frozen=True, slots=True)
class Curve:
    """One version of the score curve: unrounded scores at the grid points, and its origin.

    `version` 0 is the default curve; fitted curves count up from 1. `population` and the raw
    quantiles describe what the fit saw (zero for the default curve).
    """

    version: int
    fitted_at_ms: int
    population: int
    raw_median: float
    raw_top5: float
    raw_top01: float
    scores: tuple[float, ...]

    def __post_init__(self) -> None:
        s = self.scores
        if len(s) != GRID_SIZE:
            raise ValueError(f"a curve has {GRID_SIZE} grid scores, not {len(s)}")
        if not (s[0] >= MIN_SCORE and s[-1] <= MAX_SCORE):
            raise ValueError("curve scores must lie in [1, 100]")
        if any(b < a for a, b in pairwise(s)) or not all(map(math.isfinite, s)):
            raise ValueError("curve scores must be finite and non-decreasing")
        if self.version < 0:
            raise ValueError("curve version must be >= 0")

    def score(self, raw: float) -> float:
        """The unrounded score for `raw` influence, in [1, 100]; non-decreasing in raw."""
        s = self.scores
        if not raw > 0.0:
            return MIN_SCORE
        if raw < RAW_MIN:
            return MIN_SCORE + (s[0] - MIN_SCORE) * math.pow(raw / RAW_MIN, TAIL_EXPONENT)
        if raw >= RAW_MAX:
            if math.isinf(raw):
                return MAX_SCORE
            return MAX_SCORE - (MAX_SCORE - s[-1]) * math.pow(RAW_MAX / raw, TAIL_EXPONENT)
        t = (math.log(raw) - _X0) / GRID_STEP
        i = min(int(t), GRID_SIZE - 2)
        return s[i] + (s[i + 1] - s[i]) * (t - i)

    def raw_for_score(self, score: float) -> float:
        """The inverse of `score`: the highest raw whose unrounded score is `score`."""
        s = self.scores
        if score <= MIN_SCORE:
            return 0.0
        if score >= MAX_SCORE:
            return math.inf
        if score < s[0]:
            return RAW_MIN * math.pow((score - MIN_SCORE) / (s[0] - MIN_SCORE), 1.0 / TAIL_EXPONENT)
        if score >= s[-1]:
            return RAW_MAX * math.pow(
                (MAX_SCORE - s[-1]) / (MAX_SCORE - score), 1.0 / TAIL_EXPONENT
            )
        i = bisect_right(s, score)  # s[i - 1] <= score < s[i]
        x = _X0 + (i - 1 + (score - s[i - 1]) / (s[i] - s[i - 1])) * GRID_STEP
        return math.exp(x)

    def table(self, scores: Sequence[float] = TABLE_SCORES) -> list[tuple[float, float]]:
        """(score, raw) rows: the raw influence needed for each score."""
        return [(score, self.raw_for_score(score)) for score in scores]

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives (floats keep full precision in orjson)."""
        return {
            "version": self.version,
            "fitted_at_ms": self.fitted_at_ms,
            "population": self.population,
            "raw_median": self.raw_median,
            "raw_top5": self.raw_top5,
            "raw_top01": self.raw_top01,
            "scores": list(self.scores),
        }

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Curve:
        """The inverse of `to_dict`; ValueError for anything malformed."""
        try:
            return cls(
                version=int(obj["version"]),
                fitted_at_ms=int(obj["fitted_at_ms"]),
                population=int(obj["population"]),
                raw_median=float(obj["raw_median"]),
                raw_top5=float(obj["raw_top5"]),
                raw_top01=float(obj["raw_top01"]),
                scores=tuple(float(v) for v in obj["scores"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed curve: {exc!r}") from exc


@dataclass(frozen=True, slots=True, eq=False)
class TopicCurves:
    """The topics that have their own curve (fitted to the users influential about them), one
    version of them; a topic without one is graded on the global curve. Compared and hashed by
    identity: a set is built once per refit and cached by it."""

    version: int
    curves: Mapping[str, Curve]

    def get(self, topic: str) -> Curve | None:
        """The topic's own curve, or None."""
        return self.curves.get(topic)


NO_TOPIC_CURVES = TopicCurves(0, {})
"""No topic has its own curve: every topic score is graded on the global curve."""


def _log_logistic_scores(mid_raw: float, exponent: float) -> tuple[float, ...]:
    x_mid = math.log(mid_raw)
    return tuple(_from_logit(exponent * (_X0 + i * GRID_STEP - x_mid)) for i in range(GRID_SIZE))


DEFAULT_CURVE = Curve(
    version=0,
    fitted_at_ms=0,
    population=0,
    raw_median=0.0,
    raw_top5=0.0,
    raw_top01=0.0,
    scores=_log_logistic_scores(DEFAULT_MID_RAW, DEFAULT_EXPONENT),
)


def graded_scores(population: Population) -> tuple[float, ...]:
    """Grid scores that grade `population` on the curve (median 40, top 5% 62+, top 0.1% 82).

    In logit(score) against ln(raw) the curve is linear between the anchors and beyond them.
    The top 5% anchor is raised above 62 where needed so the slope never grows with the score
    (harder to climb the higher you are); above the top anchor the slope is capped.
    """
    x1 = math.log(population.raw_median)
    x2 = max(math.log(population.raw_top5), x1 + MIN_LOG_GAP)
    x3 = max(math.log(population.raw_top01), x2 + MIN_LOG_GAP)
    y1, y3 = _logit(MEDIAN_SCORE), _logit(TOP01_SCORE)
    y2 = max(_logit(TOP5_SCORE), y1 + (y3 - y1) * (x2 - x1) / (x3 - x1))
    b_mid = (y2 - y1) / (x2 - x1)
    b_up = (y3 - y2) / (x3 - x2)
    b_tail = min(b_up, TOP_SLOPE_CAP)

    def y(x: float) -> float:
        if x <= x2:
            return y1 + b_mid * (x - x1)
        if x <= x3:
            return y2 + b_up * (x - x2)
        return y3 + b_tail * (x - x3)

    return tuple(_from_logit(y(_X0 + i * GRID_STEP)) for i in range(GRID_SIZE))


def _cap_top_slope(scores: Sequence[float], lowest: Sequence[float]) -> tuple[float, ...]:
    """`scores` climbing above the top anchor no faster than logit slope `TOP_SLOPE_CAP`.

    A forward pass: each step up from a score s >= `TOP01_SCORE` is at most `GRID_STEP *
    TOP_SLOPE_CAP * (s - 1) * (100 - s) / 99` (the capped log-logistic's slope), but never below
    `lowest` (the step band). The previous curve obeys the same cap there, so the band always
    leaves room for it; the result stays non-decreasing.
    """
    out = list(scores)
    for i in range(1, len(out)):
        s = out[i - 1]
        if s >= TOP01_SCORE:
            ceiling = s + GRID_STEP * TOP_SLOPE_CAP * (s - MIN_SCORE) * (MAX_SCORE - s) / 99.0
            out[i] = max(min(out[i], ceiling), lowest[i])
    return tuple(out)


def fit_curve(
    population: Population,
    previous: Curve,
    *,
    version: int,
    fitted_at_ms: int,
    max_step: float,
    min_population: int,
    full: bool = False,
) -> Curve:
    """The next curve: graded on `population`, moved at most `max_step` from `previous`.

    Below `min_population` active users the target is the default curve. The step bound applies
    once a deployment has a fitted curve (`previous.version > 0`) unless `full` (`--now`).
    """
    if max_step <= 0:
        raise ValueError("max_step must be positive")
    if version <= previous.version:
        raise ValueError("a new curve needs a higher version than the previous one")
    if population.count >= max(min_population, 1) and population.raw_median > 0:
        target = graded_scores(population)
    else:
        target = DEFAULT_CURVE.scores
    if previous.version > 0 and not full:
        step = max_step - STEP_MARGIN
        target = tuple(
            min(max(new, old - step, MIN_SCORE), old + step, MAX_SCORE)
            for new, old in zip(target, previous.scores, strict=True)
        )
        # Clamping can leave a climb from the band's bottom to its top within one doubling.
        target = _cap_top_slope(target, [max(old - step, MIN_SCORE) for old in previous.scores])
    return Curve(
        version=version,
        fitted_at_ms=fitted_at_ms,
        population=population.count,
        raw_median=population.raw_median,
        raw_top5=population.raw_top5,
        raw_top01=population.raw_top01,
        scores=target,
    )
