"""What a batch and the decay sweep both publish for a set of users: cards and sweep times.

A user with signals gets a fresh score card and is (re)scheduled at its next visible change;
a user without signals gets no card and is taken off the sweep schedule. The worker's states are
the kernel's `Signals`, scored by the kernel in one call (the same card and time as
`score_card` and `next_refresh_ms`, tests/unit/kernel); any other state by the Python model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import clout_kernel

from app.scoring import curve as curves
from app.scoring.card import ActorContribution, ScoreCard, TopicInfluence
from app.scoring.model import (
    EXPLAIN_TOP_ACTORS,
    MAX_REFRESH_MS,
    MODEL_VERSION,
    NO_TOPIC_CURVES,
    Curve,
    ModelParams,
    TopicCurves,
    next_refresh_ms,
    score_card,
)
from app.scoring.signals import SignalsView

ScheduleEntry = tuple[int, str, int | None]
"""(partition, user id, due ms or None), as `DueIndex.schedule` takes it."""


@dataclass(slots=True)
class ScoreUpdate:
    """The Redis writes for one set of users: cards to store and sweep schedule entries."""

    cards: list[ScoreCard] = field(default_factory=list)
    schedule: list[ScheduleEntry] = field(default_factory=list)


def score_update(
    users: Iterable[tuple[int, str, SignalsView | None]],
    now_ms: int,
    params: ModelParams,
    curve: Curve,
    topic_curves: TopicCurves = NO_TOPIC_CURVES,
) -> ScoreUpdate:
    """Cards and schedule entries for (partition, user id, signals) triples, scored at `now_ms`
    on `curve` (topic scores on `topic_curves` where a topic has its own)."""
    users = list(users)
    compiled = [(u, s) for _, u, s in users if isinstance(s, clout_kernel.Signals)]
    scorer = kernel_scorer(curve, topic_curves)
    scored = iter(scorer.score(compiled, now_ms, params) if compiled else ())
    update = ScoreUpdate()
    for partition, user_id, signals in users:
        if signals is None:
            update.schedule.append((partition, user_id, None))
            continue
        if isinstance(signals, clout_kernel.Signals):
            card, due = next(scored)
        else:
            card = score_card(user_id, signals, now_ms, params, curve, topic_curves)
            due = next_refresh_ms(signals, now_ms, params, curve)
        update.cards.append(card)
        update.schedule.append((partition, user_id, due))
    return update


@lru_cache(maxsize=4)
def kernel_scorer(curve: Curve, topic_curves: TopicCurves = NO_TOPIC_CURVES) -> clout_kernel.Scorer:
    """The kernel's scorer for these curves (a batch, its standings and the sweep score on the
    same few)."""
    return clout_kernel.Scorer(
        scores=list(curve.scores),
        topic_curves={topic: list(c.scores) for topic, c in topic_curves.curves.items()},
        x0=math.log(curves.RAW_MIN),  # the grid's first point, in ln(raw), as curve.py has it
        step=curves.GRID_STEP,
        raw_min=curves.RAW_MIN,
        raw_max=curves.RAW_MAX,
        tail=curves.TAIL_EXPONENT,
        min_score=curves.MIN_SCORE,
        max_score=curves.MAX_SCORE,
        curve_version=curve.version,
        model_version=MODEL_VERSION,
        explain_top_actors=EXPLAIN_TOP_ACTORS,
        max_refresh_ms=MAX_REFRESH_MS,
        card_type=ScoreCard,
        contribution_type=ActorContribution,
        topic_type=TopicInfluence,
    )
