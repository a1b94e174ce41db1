"""Where a window starts: parsing `since` and picking the daily snapshot."""

from __future__ import annotations

from datetime import date

import pytest

from app.scoring.attribution import Snapshot
from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR
from app.store.windows import Since, parse_since

NOW = 1_767_225_600_000 + 12 * MS_PER_HOUR  # noon


def snap(at_ms: int) -> Snapshot:
    return Snapshot(at_ms, 40.0, 1.0, 0, {"like": {"twitter": 1.0}}, ())


SNAPSHOTS = {
    "2025-12-22": snap(NOW - 10 * MS_PER_DAY),
    "2025-12-31": snap(NOW - MS_PER_DAY - MS_PER_HOUR),  # 23:00 the day before
    "2026-01-01": snap(NOW),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", Since("24h", ago_ms=24 * MS_PER_HOUR)),
        ("7d", Since("7d", ago_ms=7 * MS_PER_DAY)),
        (" 90m ", Since("90m", ago_ms=90 * 60_000)),
        ("90d", Since("90d", ago_ms=90 * MS_PER_DAY)),
        ("2025-12-31", Since("2025-12-31", day=date(2025, 12, 31))),
    ],
)
def test_accepted_windows(text: str, expected: Since) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "7w", "1.5d", "91d", "2025-13-01"])
def test_refused_windows_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="since"):
        parse_since(text)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("24h", "2025-12-31"),  # the newest snapshot at or before 24 h ago
        ("1h", "2025-12-31"),
        ("1m", "2025-12-31"),
        ("7d", "2025-12-22"),
        ("30d", "2025-12-22"),  # the history is shorter: its oldest day
        ("2026-01-01", "2026-01-01"),
    ],
)
def test_the_window_starts_at_a_snapshot(text: str, day: str) -> None:
    assert parse_since(text).pick(SNAPSHOTS, NOW) == (day, SNAPSHOTS[day])


def test_no_snapshot_no_start() -> None:
    assert parse_since("2025-12-30").pick(SNAPSHOTS, NOW) is None
    assert parse_since("7d").pick({}, NOW) is None
