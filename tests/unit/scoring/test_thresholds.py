"""Threshold crossings with hysteresis: a hovering score does not flap, a real move is reported."""

from __future__ import annotations

import pytest

from app.scoring.thresholds import Band, Crossing, band, crossings, next_level

MARKS = (40.0, 50.0, 60.0, 70.0, 80.0)


def follow(scores: list[float], hysteresis: float = 1.0) -> list[Crossing]:
    """The crossings a user with these successive visible scores gets (level kept between)."""
    level, seen = 0, []
    for score in scores:
        after = next_level(level, band(score, MARKS, hysteresis))
        seen += crossings(level, after, MARKS)
        level = after
    return seen


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, Band(0, 0)),
        (38.9, Band(0, 0)),
        (39.0, Band(0, 1)),  # exactly threshold - hysteresis: still in the keep zone
        (39.9, Band(0, 1)),
        (40.0, Band(1, 1)),
        (49.5, Band(1, 2)),
        (100.0, Band(5, 5)),
    ],
)
def test_band_of_a_score(score: float, expected: Band) -> None:
    assert band(score, MARKS, 1.0) == expected


def test_tenths_decide_not_float_rounding() -> None:
    # 0.1 * 3 is 0.30000000000000004 in floats; in tenths it is exactly 3.
    assert band(39.7 + 0.1 * 3, MARKS, 0.0).low == 1
    assert band(38.9, MARKS, 0.1 * 3 + 0.8).high == 1  # 38.9 + 1.1 reaches 40.0


def test_hovering_at_a_threshold_reports_one_crossing() -> None:
    assert follow([39.5, 40.0, 39.9, 40.0, 39.2, 40.1, 39.5]) == [Crossing(40.0, "up")]


def test_falling_below_the_hysteresis_reports_down_then_up_again() -> None:
    assert follow([41.0, 38.9, 40.0]) == [
        Crossing(40.0, "up"),
        Crossing(40.0, "down"),
        Crossing(40.0, "up"),
    ]


def test_a_jump_over_several_thresholds_reports_each_in_order() -> None:
    assert follow([35.0, 72.0, 45.0]) == [
        Crossing(40.0, "up"),
        Crossing(50.0, "up"),
        Crossing(60.0, "up"),
        Crossing(70.0, "up"),
        Crossing(70.0, "down"),
        Crossing(60.0, "down"),
        Crossing(50.0, "down"),
    ]


def test_without_hysteresis_every_crossing_counts() -> None:
    assert follow([40.0, 39.9, 40.0], hysteresis=0.0) == [
        Crossing(40.0, "up"),
        Crossing(40.0, "down"),
        Crossing(40.0, "up"),
    ]


def test_the_keep_zone_holds_either_side() -> None:
    zone = band(39.5, MARKS, 1.0)
    assert next_level(0, zone) == 0  # came from below: still below
    assert next_level(1, zone) == 1  # came from above: still above
    assert next_level(3, zone) == 1  # came from 60s: down past 50, not past 40


def test_no_change_no_crossing() -> None:
    assert crossings(2, 2, MARKS) == []
