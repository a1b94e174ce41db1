"""Half-life decay: old engagement fades smoothly instead of falling off a window's edge.

A value `v` observed at `t0` is worth `v * 2 ** (-(t - t0) / H)` at `t`: exactly half after one
half-life `H`, a quarter after two. Exponential decay is what lets a user's state be a handful of
running sums updated in O(1) per event (`S <- S * 2 ** (-dt / H) + w`) rather than a list of events.
"""

from __future__ import annotations

S_PER_DAY = 86_400
MS_PER_DAY = S_PER_DAY * 1000
MS_PER_HOUR = 3_600_000
MS_PER_MINUTE = 60_000


def decay_factor(dt_ms: float, half_life_ms: float) -> float:
    """What one unit is worth `dt_ms` later; 0.5 exactly at `dt_ms == half_life_ms`.

    A negative `dt_ms` gives a factor above 1 (the value at an earlier time), which is how an
    out-of-order event's weight is moved onto a later reference time.
    """
    if half_life_ms <= 0:
        raise ValueError("half_life_ms must be positive")
    # 2.0 ** -1.0 is exactly 0.5, unlike exp(-ln 2): the half-life is a promise we test.
    return float(2.0 ** (-dt_ms / half_life_ms))
