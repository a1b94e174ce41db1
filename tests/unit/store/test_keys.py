"""The key schema's pure parts: names, percentile arithmetic, the history window."""

from __future__ import annotations

from datetime import date

import pytest
from redis.crc import key_slot

from app.store.keys import (
    HISTORY_DAYS,
    RedisKeys,
    history_window,
    percentile,
    shard_of,
    user_tag,
    utc_day,
)


def test_key_names_hang_off_the_prefix() -> None:
    keys = RedisKeys("clout:v2")
    assert keys.user("alice") == "clout:v2:user:{alice}"
    assert keys.history("alice") == "clout:v2:history:{alice}"
    assert keys.leaderboard(0, 1) == "clout:v2:leaderboard:{0of1}"
    assert keys.leaderboard(15, 16) == "clout:v2:leaderboard:{15of16}"
    assert keys.changes == "clout:v2:changes"
    assert keys.stats == "clout:v2:stats"
    assert keys.api_key_names == "clout:v2:{apikeys}"
    assert keys.api_key("0123456789ab") == "clout:v2:{apikeys}:0123456789ab"
    assert keys.seen("e-1") == "clout:v2:seen:e-1"
    assert keys.due(3) == "clout:v2:due:3"


@pytest.mark.parametrize("prefix", ["", "clout{x}", "clout}"])
def test_an_empty_or_braced_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisKeys(prefix)


def test_a_shard_outside_the_count_is_refused() -> None:
    with pytest.raises(ValueError, match="shard"):
        RedisKeys("p").leaderboard(16, 16)


@pytest.mark.parametrize(
    "user_id", ["alice", "}leading", "trail}", "a}b{c", "{x}", "50%", "%7D", "ünï 🎉", "x" * 128]
)
def test_a_users_keys_share_one_cluster_slot(user_id: str) -> None:
    keys = RedisKeys("clout:v2")
    slot = key_slot(user_tag(user_id)[1:-1].encode())
    assert key_slot(keys.user(user_id).encode()) == slot
    assert key_slot(keys.history(user_id).encode()) == slot


def test_user_tags_are_one_to_one() -> None:
    ids = ["}", "%7D", "%", "%25", "a}", "a%7D"]
    assert len({user_tag(u) for u in ids}) == len(ids)


def test_shards_follow_crc32_of_the_id() -> None:
    assert shard_of("alice", 1) == 0
    assert shard_of("alice", 16) == 663665735 % 16  # zlib.crc32(b"alice"), documented
    counts = [0] * 16
    for i in range(16_000):
        counts[shard_of(f"user-{i}", 16)] += 1
    assert min(counts) > 800  # spread: about 1,000 each


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
