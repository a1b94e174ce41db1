"""The key schema's pure parts: names, percentile arithmetic, the history window."""

from __future__ import annotations

from datetime import date

import pytest

from app.store.keys import HISTORY_DAYS, RedisKeys, history_window, percentile, utc_day


def test_key_names_hang_off_the_prefix() -> None:
    keys = RedisKeys("clout:v1")
    assert keys.user("alice") == "clout:v1:user:alice"
    assert keys.history("alice") == "clout:v1:history:alice"
    assert keys.leaderboard == "clout:v1:leaderboard"
    assert keys.changes == "clout:v1:changes"
    assert keys.stats == "clout:v1:stats"
    assert keys.api_key_names == "clout:v1:apikeys"
    assert keys.api_key("0123456789ab") == "clout:v1:apikey:0123456789ab"


def test_an_empty_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisKeys("")


@pytest.mark.parametrize(
    ("rank", "total", "expected"),
    [
        (1, 1, 100.0),  # a lone user
        (1, 2, 100.0),
        (2, 2, 0.0),
        (1, 5, 100.0),
        (3, 5, 50.0),
        (5, 5, 0.0),
        (2, 4, 66.67),  # outranks 2 of the 3 others
        (1, 1_000_001, 100.0),
        (1_000_001, 1_000_001, 0.0),
        (10, 1_000_001, 100.0),  # 999,991 of 1,000,000 others: 99.9991 rounds to 100.0
    ],
)
def test_percentile_is_the_share_of_other_users_outranked(
    rank: int, total: int, expected: float
) -> None:
    assert percentile(rank, total) == expected


@pytest.mark.parametrize(("rank", "total"), [(0, 5), (6, 5), (1, 0), (-1, 3)])
def test_percentile_refuses_ranks_outside_the_board(rank: int, total: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        percentile(rank, total)


def test_percentile_never_increases_as_rank_gets_worse() -> None:
    total = 37
    values = [percentile(rank, total) for rank in range(1, total + 1)]
    assert values == sorted(values, reverse=True)
    assert values[0] == 100.0
    assert values[-1] == 0.0


@pytest.mark.parametrize(
    ("ms", "day"),
    [
        (0, date(1970, 1, 1)),
        (86_399_999, date(1970, 1, 1)),  # last millisecond of the day
        (86_400_000, date(1970, 1, 2)),
        (1_700_000_000_000, date(2023, 11, 14)),
    ],
)
def test_utc_day_of_an_instant(ms: int, day: date) -> None:
    assert utc_day(ms) == day


def test_history_window_keeps_today_and_the_days_before() -> None:
    assert history_window(date(2024, 3, 1), 1) == ("2024-03-01", "2024-03-01")
    assert history_window(date(2024, 3, 1), 2) == ("2024-02-29", "2024-03-01")  # leap year
    first, last = history_window(date(2024, 12, 31))
    assert (date.fromisoformat(last) - date.fromisoformat(first)).days == HISTORY_DAYS - 1


def test_history_window_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        history_window(date(2024, 1, 1), 0)
