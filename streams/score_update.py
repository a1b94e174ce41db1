"""What a batch and the decay sweep both publish for a set of users: cards and sweep times.

A user with signals gets a fresh score card and is (re)scheduled at its next visible change;
a user without signals gets no card and is taken off the sweep schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.scoring.card import ScoreCard
from app.scoring.model import Curve, ModelParams, next_refresh_ms, score_card
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
) -> ScoreUpdate:
    """Cards and schedule entries for (partition, user id, signals) triples, scored at `now_ms`."""
    update = ScoreUpdate()
    for partition, user_id, signals in users:
        if signals is None:
            update.schedule.append((partition, user_id, None))
            continue
        update.cards.append(score_card(user_id, signals, now_ms, params, curve))
        update.schedule.append(
            (partition, user_id, next_refresh_ms(signals, now_ms, params, curve))
        )
    return update
