"""What buying engagement gets you, compared with earning it: the model's anti-gaming report.

On the median active user of the reference population (as replayed up to its end), over the
following week:

* bought: N fresh accounts (no score) each engage once, all within ten minutes at the very end of
  the week (the buyer's best case: nothing has decayed yet when the score is read);
* organic: N engagements from distinct established accounts (users of the population that have a
  score, sampled uniformly, engaging with the score they have) spread uniformly over the week;
* drip (for information): the same N fresh accounts spread over the week instead of one burst.

Every scenario uses the same kind sequence (75% likes, 12% shares, 13% mentions) on the user's
main network. Points are the unrounded score gained over the same user left alone for the week
(so decay is accounted for), scaled to 1000 engagements. Scores are graded on the default curve,
or on the curve fitted to the replayed population (`fitted=True`), as a live deployment grades
after its first refit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from random import Random

import orjson

from app.scoring.curve import DEFAULT_CURVE, Curve, fit_curve, population_of
from app.scoring.decay import MS_PER_DAY, MS_PER_MINUTE
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import ModelParams
from app.scoring.signals import UserSignals, apply_event
from app.simulation.population import generate_events
from app.simulation.replay import (
    PopulationStats,
    ReplayResult,
    population_stats,
    replay_states,
)
from app.step.plan import standings

WEEK_MS = 7 * MS_PER_DAY
BURST_MS = 10 * MS_PER_MINUTE
_KIND_MIX = ((Kind.LIKE, 75), (Kind.SHARE, 12), (Kind.MENTION, 13))


@dataclass(frozen=True, slots=True)
class Scenario:
    """One way of getting `engagements` engagements, and the points it gained."""

    name: str
    engagements: int
    points: float

    @property
    def points_per_1000(self) -> float:
        """Points gained per 1000 engagements."""
        return self.points * 1000.0 / self.engagements


@dataclass(frozen=True, slots=True)
class GamingReport:
    """The outcome of `gaming_report`: the population, the user, and each scenario."""

    population: PopulationStats
    target_id: str
    network: str
    baseline_score: float
    baseline_after_week: float
    bought: Scenario
    organic: Scenario
    drip: Scenario

    @property
    def ratio(self) -> float:
        """Organic points per bought point (infinite if buying gained nothing)."""
        if self.bought.points <= 0.0:
            return float("inf")
        return self.organic.points / self.bought.points

    def lines(self) -> list[str]:
        """Human-readable report; the last line is the machine-readable summary."""
        p = self.population
        return [
            f"reference population: {p.active} active users, median {p.median}, "
            f"top 5% >= {p.top_5pct_min}, top 0.1% >= {p.top_0_1pct_min}, max {p.max}",
            f"target: {self.target_id} on {self.network}, score {self.baseline_score} "
            f"({self.baseline_after_week:.2f} after a quiet week)",
            *(
                f"{s.name}: {s.engagements} engagements -> +{s.points:.3f} points "
                f"({s.points_per_1000:.3f} per 1000)"
                for s in (self.bought, self.organic, self.drip)
            ),
            f"bought_points_per_1000={self.bought.points_per_1000:.3f} "
            f"organic_points_per_1000={self.organic.points_per_1000:.3f} "
            f"ratio={self.ratio:.2f}",
        ]


def gaming_report(
    params: ModelParams,
    *,
    users: int,
    events: int,
    seed: int,
    end_ms: int,
    engagements: int = 1000,
    fitted: bool = False,
) -> GamingReport:
    """Replay the population, pick its median user, and run the three scenarios on it."""
    result = replay_states(generate_events(users, events, seed, end_ms), params, end_ms)
    curve = fitted_curve(result, params, end_ms) if fitted else DEFAULT_CURVE
    return gaming_report_from(
        result, params, end_ms=end_ms, seed=seed, engagements=engagements, curve=curve
    )


def fitted_curve(result: ReplayResult, params: ModelParams, now_ms: int) -> Curve:
    """The curve a deployment's first refit would fit to the replayed population at `now_ms`."""
    raws = [state.raw_at(now_ms, params) for state in result.states.values()]
    return fit_curve(
        population_of(raws, 0.01),
        DEFAULT_CURVE,
        version=1,
        fitted_at_ms=now_ms,
        max_step=2.0,
        min_population=1,
    )


def gaming_report_from(
    result: ReplayResult,
    params: ModelParams,
    *,
    end_ms: int,
    seed: int,
    engagements: int = 1000,
    curve: Curve = DEFAULT_CURVE,
) -> GamingReport:
    """The scenarios on an already replayed population (`end_ms`: where the replay stopped),
    graded on `curve` (actors' standing included)."""
    if engagements < 1:
        raise ValueError("engagements must be >= 1")
    cards = result.cards(end_ms, params, curve)
    stats = population_stats(cards)
    target_id = min(cards, key=lambda u: (abs(cards[u].score - stats.median), u))
    card = cards[target_id]
    network = max(
        ((net, value) for nets in card.components.values() for net, value in nets.items()),
        key=lambda item: (item[1], item[0]),
    )[0]
    baseline = UserSignals.from_dict(orjson.loads(result.states[target_id].to_json()))
    week_end = end_ms + WEEK_MS
    before = _points(baseline, week_end, params, curve)

    rng = Random(seed)
    kinds = rng.choices([k for k, _ in _KIND_MIX], [w for _, w in _KIND_MIX], k=engagements)
    established = sorted(u for u in result.scores if u != target_id)
    organic_actors = rng.sample(established, min(engagements, len(established)))
    burst_times = sorted(week_end - rng.randrange(BURST_MS) for _ in range(engagements))
    week_times = sorted(end_ms + rng.randrange(WEEK_MS) for _ in range(engagements))
    fresh = [f"fresh-{i}" for i in range(engagements)]

    def run(
        name: str, actors: Sequence[str], scores: Sequence[float | None], times: list[int]
    ) -> Scenario:
        state = baseline.copy()
        for i, (actor, score, ts) in enumerate(zip(actors, scores, times, strict=True)):
            event = EngagementEvent(
                event_id=f"{name}-{i}",
                kind=kinds[i],
                network=network,
                actor_id=actor,
                target_id=target_id,
                post_id=None,
                ts_ms=ts,
            )
            state = apply_event(state, event, score, params)
        return Scenario(name, len(actors), _points(state, week_end, params, curve) - before)

    # Each actor's standing as the worker would read it: its stored raw, graded on `curve`.
    standing = standings(organic_actors, result.raws, {}, end_ms, params, curve)
    organic_scores = [standing[actor] for actor in organic_actors]
    return GamingReport(
        population=stats,
        target_id=target_id,
        network=network,
        baseline_score=card.score,
        baseline_after_week=before,
        bought=run("bought", fresh, [None] * engagements, burst_times),
        organic=run("organic", organic_actors, organic_scores, week_times[: len(organic_actors)]),
        drip=run("drip", fresh, [None] * engagements, week_times),
    )


def _points(state: UserSignals, now_ms: int, params: ModelParams, curve: Curve) -> float:
    return curve.score(state.raw_at(now_ms, params))
