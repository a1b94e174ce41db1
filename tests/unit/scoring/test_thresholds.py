"""Threshold bands and crossings (the clamp between them runs in app/store/write_cards.lua and is
tested there, on the real Redis: tests/integration/store/test_write_cards_lua.py)."""

from __future__ import annotations

import pytest

from app.scoring.thresholds import Band, Crossing, band, crossings, tenths

MARKS = (40.0, 50.0, 60.0, 70.0, 80.0)


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
    assert tenths(0.1 * 3) == 3
    assert band(39.7 + 0.1 * 3, MARKS, 0.0).low == 1
    assert band(38.9, MARKS, 0.1 * 3 + 0.8).high == 1  # 38.9 + 1.1 reaches 40.0


def test_levels_up_cross_each_threshold_upwards_in_order() -> None:
    assert crossings(1, 4, MARKS) == [
        Crossing(50.0, "up"),
        Crossing(60.0, "up"),
        Crossing(70.0, "up"),
    ]


def test_levels_down_cross_each_threshold_downwards_from_the_top() -> None:
    assert crossings(4, 1, MARKS) == [
        Crossing(70.0, "down"),
        Crossing(60.0, "down"),
        Crossing(50.0, "down"),
    ]


def test_no_change_no_crossing() -> None:
    assert crossings(2, 2, MARKS) == []
