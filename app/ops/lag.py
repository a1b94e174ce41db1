"""Lag arithmetic, pure: messages behind, seconds behind, rates and time to catch up.

Offsets follow Kafka's conventions: a partition holds offsets ``[log_start, end)``, ``end`` being
the offset the next produced message will get; a committed offset is the next offset the group
will read. Nothing here does I/O, so every edge case (negative lag, commits below the log start,
a backlog older than the recorded history) is tested directly with tables of numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


def consumer_position(committed: int | None, log_start: int) -> int:
    """The offset the group will read next.

    A group with no commit starts at the log start (the worker reads from the earliest offset),
    and a commit below the log start points at deleted messages, which can never be consumed:
    the broker moves such a consumer to the log start, so lag is never counted below it.
    """
    if committed is None or committed < log_start:
        return log_start
    return committed


def partition_lag(end: int, committed: int | None, log_start: int = 0) -> int:
    """Messages the group still has to read on one partition; never negative.

    End offsets and commits are read in separate requests, so a fast consumer can appear ahead
    of the end offset; that reads as zero lag, not as a negative number.
    """
    return max(0, end - consumer_position(committed, log_start))


class LagMethod(StrEnum):
    """How a lag-in-seconds figure was obtained, so the page can mark estimates honestly."""

    CAUGHT_UP = "caught_up"  # no lag: exactly 0
    INTERPOLATED = "interpolated"  # the position lies inside the recorded end-offset history
    EXTRAPOLATED = "extrapolated"  # older than the history; projected back at the history's rate
    LOWER_BOUND = "lower_bound"  # older than the history and no rate to project with


@dataclass(frozen=True, slots=True)
class LagEstimate:
    """Seconds behind, and how the number was obtained."""

    seconds: float
    method: LagMethod


def lag_seconds(
    history: Sequence[tuple[int, int]], position: int, end: int, now_ms: int
) -> LagEstimate:
    """How long ago the partition's end offset was where the consumer's position is now.

    `history` is ``(ts_ms, end_offset)`` points, oldest first, as polled. The latest point whose
    end offset was still at or below `position` and the point after it (or `end` at `now_ms`)
    bracket the moment the end offset passed `position`; linear interpolation between them gives
    that moment. A position older than the whole history is projected back at the history's
    average produce rate, or reported as a lower bound (the first point's age) without one.
    """
    if position >= end:
        return LagEstimate(0.0, LagMethod.CAUGHT_UP)
    points = [*history, (now_ms, end)]
    for index in range(len(points) - 2, -1, -1):
        ts, offset = points[index]
        if offset <= position:
            # Scanning backwards, the next point is the first above `position`: no zero division.
            next_ts, next_offset = points[index + 1]
            passed_ms = ts + (position - offset) / (next_offset - offset) * (next_ts - ts)
            return LagEstimate(max(0.0, (now_ms - passed_ms) / 1000.0), LagMethod.INTERPOLATED)
    first_ts, first_offset = points[0]
    last_ts, last_offset = points[-1]
    if last_ts > first_ts and last_offset > first_offset:
        rate_per_ms = (last_offset - first_offset) / (last_ts - first_ts)
        passed_ms = first_ts - (first_offset - position) / rate_per_ms
        return LagEstimate(max(0.0, (now_ms - passed_ms) / 1000.0), LagMethod.EXTRAPOLATED)
    return LagEstimate(max(0.0, (now_ms - first_ts) / 1000.0), LagMethod.LOWER_BOUND)


def rate_per_s(points: Sequence[tuple[int, int]]) -> float | None:
    """Average increase per second of a counter over ``(ts_ms, value)`` points, oldest first.

    None with fewer than two points or no elapsed time; never negative (a counter that went
    back, e.g. a rewound consumer, counts as no progress rather than negative throughput).
    """
    if len(points) < 2:
        return None
    (first_ts, first_value), (last_ts, last_value) = points[0], points[-1]
    if last_ts <= first_ts:
        return None
    return max(0.0, (last_value - first_value) * 1000.0 / (last_ts - first_ts))


def catch_up_seconds(
    lag: int, consume_rate: float | None, produce_rate: float | None
) -> float | None:
    """Seconds until the backlog is gone at the current rates; None if it is not shrinking."""
    if lag <= 0:
        return 0.0
    if consume_rate is None or produce_rate is None:
        return None
    net = consume_rate - produce_rate
    if net <= 0:
        return None
    return lag / net
