"""Run the influence model offline over a stream of events, the way the worker does online.

Per event: validate (against `now_ms`, as a worker catching up on a backlog at `now_ms` would),
drop repeated `event_id`s, look up the actor's current score (the last score written for that
user, as the worker reads it from the store), `apply_event`, and record the target's new score.
At the end every user with state gets a `score_card` at `now_ms`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from app.scoring.card import ScoreCard
from app.scoring.events import InvalidEvent, Kind, validate_event
from app.scoring.model import DEFAULT_CURVE, Curve, ModelParams, score_card, score_from_raw
from app.scoring.signals import UserSignals, apply_event


@dataclass
class ReplayResult:
    """Everything a replay leaves behind: per-user state, last written scores, and counts."""

    states: dict[str, UserSignals] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    accepted: int = 0
    duplicates: int = 0
    invalid: Counter[str] = field(default_factory=Counter)

    def cards(
        self, now_ms: int, params: ModelParams, curve: Curve = DEFAULT_CURVE
    ) -> dict[str, ScoreCard]:
        """Every user's score card at `now_ms`, graded on `curve`."""
        return {
            user_id: score_card(user_id, state, now_ms, params, curve)
            for user_id, state in self.states.items()
        }


def replay_states(
    events: Iterable[tuple[Kind, object]],
    params: ModelParams,
    now_ms: int,
    curve: Curve = DEFAULT_CURVE,
) -> ReplayResult:
    """Apply `events` (kind, decoded JSON value) in order, actors graded on `curve`."""
    rules = params.event_rules
    result = ReplayResult()
    states = result.states
    scores = result.scores
    seen: set[str] = set()
    for kind, obj in events:
        try:
            event = validate_event(obj, kind, now_ms, rules)
        except InvalidEvent as exc:
            result.invalid[exc.reason] += 1
            continue
        if event.event_id in seen:
            result.duplicates += 1
            continue
        seen.add(event.event_id)
        target = event.target_id
        state = apply_event(states.get(target), event, scores.get(event.actor_id), params)
        states[target] = state
        scores[target] = score_from_raw(state.raw_at(state.t_ms, params), curve)
        result.accepted += 1
    return result


def replay(
    events: Iterable[tuple[Kind, object]], params: ModelParams, now_ms: int
) -> dict[str, ScoreCard]:
    """Score cards at `now_ms` for every user who received at least one valid event."""
    return replay_states(events, params, now_ms).cards(now_ms, params)


@dataclass(frozen=True, slots=True)
class PopulationStats:
    """How scores spread over the active users (those with at least one accepted event)."""

    active: int
    median: float
    top_5pct_min: float
    top_0_1pct_min: float
    max: float
    styles: dict[str, int]


class Scored(Protocol):
    """Anything with a score and a style: a ScoreCard, or a score read back from the store."""

    @property
    def score(self) -> float: ...

    @property
    def style(self) -> str: ...


def population_stats(cards: Mapping[str, Scored]) -> PopulationStats:
    """Median and top-percentile thresholds: "top 5% score >= x" means the lowest score among
    the best ceil(5% of active users) is x."""
    if not cards:
        raise ValueError("no active users")
    scores = sorted((card.score for card in cards.values()), reverse=True)
    n = len(scores)
    return PopulationStats(
        active=n,
        median=statistics.median(scores),
        top_5pct_min=scores[_top_count(n, 0.05) - 1],
        top_0_1pct_min=scores[_top_count(n, 0.001) - 1],
        max=scores[0],
        styles=dict(sorted(Counter(card.style for card in cards.values()).items())),
    )


def _top_count(n: int, share: float) -> int:
    return max(1, -(-n * round(share * 100_000) // 100_000))
