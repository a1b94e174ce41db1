"""Lag arithmetic: messages behind, seconds behind, rates, time to catch up."""

from __future__ import annotations

import pytest

from app.ops.lag import (
    LagMethod,
    catch_up_seconds,
    consumer_position,
    lag_seconds,
    partition_lag,
    rate_per_s,
)


@pytest.mark.parametrize(
    ("end", "committed", "log_start", "expected"),
    [
        pytest.param(100, 100, 0, 0, id="caught-up"),
        pytest.param(100, 60, 0, 40, id="behind"),
        pytest.param(100, 105, 0, 0, id="commit-ahead-of-stale-end-is-never-negative"),
        pytest.param(100, None, 0, 100, id="no-commit-reads-from-log-start"),
        pytest.param(100, None, 70, 30, id="no-commit-with-truncated-log"),
        pytest.param(100, 20, 70, 30, id="commit-below-log-start-counts-from-log-start"),
        pytest.param(100, 70, 70, 30, id="commit-at-log-start"),
        pytest.param(0, None, 0, 0, id="empty-partition"),
        pytest.param(50, None, 50, 0, id="fully-truncated-partition"),
        pytest.param(10, -1, 0, 10, id="negative-commit-floors-at-log-start"),
    ],
)
def test_partition_lag(end: int, committed: int | None, log_start: int, expected: int) -> None:
    assert partition_lag(end, committed, log_start) == expected


@pytest.mark.parametrize(
    ("committed", "log_start", "expected"),
    [(None, 5, 5), (3, 5, 5), (9, 5, 9), (5, 5, 5)],
)
def test_consumer_position(committed: int | None, log_start: int, expected: int) -> None:
    assert consumer_position(committed, log_start) == expected


# End-offset history used below (time in ms, end offset):
#
#   offset 300 |                        *  (t=30s)
#          200 |             *  (t=20s)
#          100 |  *  *  (t=0s, 10s: a flat run)
#              +---------------------------- time
HISTORY = [(0, 100), (10_000, 100), (20_000, 200), (30_000, 300)]


@pytest.mark.parametrize(
    ("history", "position", "end", "now_ms", "seconds", "method"),
    [
        pytest.param(HISTORY, 300, 300, 30_000, 0.0, LagMethod.CAUGHT_UP, id="caught-up"),
        pytest.param(HISTORY, 310, 300, 30_000, 0.0, LagMethod.CAUGHT_UP, id="ahead-of-end"),
        # end was 200 at t=20s, so a consumer at 200 is 10 s behind at t=30s
        pytest.param(HISTORY, 200, 300, 30_000, 10.0, LagMethod.INTERPOLATED, id="on-a-point"),
        # 250 is halfway between 200 (t=20s) and 300 (t=30s): passed at t=25s
        pytest.param(HISTORY, 250, 300, 30_000, 5.0, LagMethod.INTERPOLATED, id="between"),
        # the end offset stayed at 100 until t=10s: that is the last time it was there
        pytest.param(HISTORY, 100, 300, 30_000, 20.0, LagMethod.INTERPOLATED, id="flat-run"),
        # time passes while nothing moves: lag in seconds grows with the clock
        pytest.param(HISTORY, 200, 300, 50_000, 30.0, LagMethod.INTERPOLATED, id="stalled"),
        # newest point below the position: crossing between that point and now (end=400)
        pytest.param(HISTORY, 350, 400, 40_000, 5.0, LagMethod.INTERPOLATED, id="since-last-poll"),
        # older than the history: 200 messages in 30 s, so offset 50 (50 before t=0) was the
        # end offset at t=-7.5s
        pytest.param(HISTORY, 50, 300, 30_000, 37.5, LagMethod.EXTRAPOLATED, id="extrapolated"),
        # older than a flat history: at least as old as the history itself
        pytest.param(
            [(0, 100), (10_000, 100)], 40, 100, 10_000, 10.0, LagMethod.LOWER_BOUND, id="flat"
        ),
        pytest.param([], 0, 10, 5_000, 0.0, LagMethod.LOWER_BOUND, id="no-history"),
    ],
)
def test_lag_seconds(
    history: list[tuple[int, int]],
    position: int,
    end: int,
    now_ms: int,
    seconds: float,
    method: LagMethod,
) -> None:
    estimate = lag_seconds(history, position, end, now_ms)
    assert estimate.method is method
    assert estimate.seconds == pytest.approx(seconds)


def test_lag_seconds_is_never_negative_with_a_clock_behind_the_history() -> None:
    assert lag_seconds([(10_000, 0)], 0, 5, 9_000).seconds == 0.0


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([], None, id="no-points"),
        pytest.param([(0, 5)], None, id="one-point"),
        pytest.param([(1000, 5), (1000, 9)], None, id="no-elapsed-time"),
        pytest.param([(0, 0), (2000, 10)], 5.0, id="five-per-second"),
        pytest.param([(0, 0), (1000, 3), (4000, 12)], 3.0, id="first-to-last"),
        pytest.param([(0, 50), (1000, 20)], 0.0, id="rewind-is-no-progress-not-negative"),
    ],
)
def test_rate_per_s(points: list[tuple[int, int]], expected: float | None) -> None:
    assert rate_per_s(points) == expected


@pytest.mark.parametrize(
    ("lag", "consume", "produce", "expected"),
    [
        pytest.param(0, None, None, 0.0, id="caught-up"),
        pytest.param(100, 30.0, 10.0, 5.0, id="shrinking"),
        pytest.param(100, 10.0, 10.0, None, id="steady"),
        pytest.param(100, 5.0, 10.0, None, id="growing"),
        pytest.param(100, None, 0.0, None, id="no-rate-yet"),
    ],
)
def test_catch_up_seconds(
    lag: int, consume: float | None, produce: float | None, expected: float | None
) -> None:
    assert catch_up_seconds(lag, consume, produce) == expected
