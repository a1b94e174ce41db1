"""Threshold crossings with hysteresis, so a score hovering at a threshold does not flap.

Each threshold T is a Schmitt trigger on the visible score: a score at or above T puts it *up*, a
score below T - hysteresis puts it *down*, and a score in between leaves it where it was. With
the thresholds sorted, the up ones are always the lowest few, so a user's whole trigger state is
one integer, its *level* (how many thresholds are up). A new score allows a `Band` of levels
(`low`: thresholds it reaches, `high`: thresholds it is within hysteresis of) and the new level is
the old one clamped into it. The worker's Redis script keeps each user's level and applies that
clamp atomically with the score (app/store/write_cards.lua, the clamp's one home); `crossings`
turns two levels into records.

Work is done in tenths of a point, the visible score's resolution, so no float rounding can put a
score on the wrong side of a threshold.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Direction = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class Band:
    """The levels a visible score allows: at least `low`, at most `high`."""

    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Crossing:
    """A threshold a user's visible score crossed, and which way."""

    threshold: float
    direction: Direction


def tenths(value: float) -> int:
    """A score or threshold in tenths of a point (the visible score's resolution)."""
    return round(value * 10)


def band(score: float, thresholds: Sequence[float], hysteresis: float) -> Band:
    """The levels `score` allows under sorted `thresholds`."""
    marks = [tenths(t) for t in thresholds]
    at = tenths(score)
    return Band(low=bisect_right(marks, at), high=bisect_right(marks, at + tenths(hysteresis)))


def crossings(before: int, after: int, thresholds: Sequence[float]) -> list[Crossing]:
    """The crossings from level `before` to `after`, in the order the score passed them."""
    if after > before:
        return [Crossing(t, "up") for t in thresholds[before:after]]
    return [Crossing(t, "down") for t in reversed(thresholds[after:before])]
